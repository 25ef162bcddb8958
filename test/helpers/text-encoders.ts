/**
 * A tiny sentence encoder with the same inputs, output and file formats as
 * the real MiniLM / BGE exports: an ONNX graph taking int64 input_ids,
 * attention_mask and token_type_ids [batch, tokens] and giving float32
 * last_hidden_state [batch, tokens, dim], plus a WordPiece tokenizer.json of
 * 30 tokens. No real sentence-encoder weights can be had on this machine.
 *
 * The graph's hidden state of a token is a sum of three table rows, easy to
 * compute by hand: tokenRow(id) + typeRow(type) + maskRow(mask). Padding
 * positions get a non-zero state (maskRow(0)), as a real transformer's do, so
 * pooling that ignored the mask would be caught.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SentenceEncoderSpec } from '../../src/text/sentence.js';
import { ONNX_DATA_TYPE, onnx } from '../../src/backbone/onnx-schema.js';
import { sha256 } from './onnx-models.js';

/** The vocabulary, in id order (BERT's special tokens first, '##' for word pieces). */
export const TINY_VOCAB = [
  '[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]',
  'a', 'the', 'alien', 'ship', 'space', 'crew', 'love', 'story', 'war', 'dead', 'night', 'of', 'in', 'and',
  '##s', '##ing', 'run', 'hunt', '!', ',', '.', '(', ')', '19', '##79',
] as const;

export const tokenId = (token: string): number => {
  const id = (TINY_VOCAB as readonly string[]).indexOf(token);
  if (id < 0) throw new Error(`no such tiny token ${token}`);
  return id;
};

/** Row `id` of the token table: distinct, small, exact in float32. */
export const tokenRow = (id: number, dim: number): number[] => Array.from({ length: dim }, (_, d) => ((id * 7 + d * 3) % 11) - 5);
export const typeRow = (type: number, dim: number): number[] => Array.from({ length: dim }, (_, d) => (type === 0 ? 0 : d + 1) / 4);
export const maskRow = (mask: number, dim: number): number[] => Array.from({ length: dim }, (_, d) => (mask === 1 ? 0 : 100 + d));

/** The hidden state the tiny graph gives one token. */
export const tinyHidden = (id: number, type: number, mask: number, dim: number): number[] => {
  const a = tokenRow(id, dim);
  const b = typeRow(type, dim);
  const c = maskRow(mask, dim);
  return a.map((v, d) => v + b[d]! + c[d]!);
};

/** A Hugging Face tokenizer.json of BERT's shape (uncased) over TINY_VOCAB. */
export function tinyTokenizerJson(): object {
  const vocab = Object.fromEntries(TINY_VOCAB.map((token, id) => [token, id]));
  const special = (id: number) => ({ id, content: TINY_VOCAB[id], single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [0, 1, 2, 3, 4].map(special),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [2], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [3], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  };
}

function valueInfo(name: string, elemType: number, dims: Array<number | string>) {
  return { name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } };
}
const table = (name: string, rows: number[][]) => ({ name, dims: [rows.length, rows[0]!.length], dataType: ONNX_DATA_TYPE.FLOAT, floatData: rows.flat() });

export interface TinySentenceModelOptions {
  dim: number;
  inputs?: SentenceEncoderSpec['inputs'];
  output?: string;
}

/** The tiny graph: Gather(tokens, input_ids) + Gather(types, token_type_ids) + Gather(masks, attention_mask). */
export function tinySentenceModel(options: TinySentenceModelOptions): Uint8Array {
  const { dim } = options;
  const inputs = options.inputs ?? { inputIds: 'input_ids', attentionMask: 'attention_mask', tokenTypeIds: 'token_type_ids' };
  const output = options.output ?? 'last_hidden_state';
  const nodes: object[] = [
    { opType: 'Gather', input: ['tokens', inputs.inputIds], output: ['h_tok'] },
    { opType: 'Gather', input: ['masks', inputs.attentionMask], output: ['h_mask'] },
  ];
  const graphInputs = [valueInfo(inputs.inputIds, ONNX_DATA_TYPE.INT64, ['batch', 'sequence']), valueInfo(inputs.attentionMask, ONNX_DATA_TYPE.INT64, ['batch', 'sequence'])];
  if (inputs.tokenTypeIds) {
    nodes.push({ opType: 'Gather', input: ['types', inputs.tokenTypeIds], output: ['h_type'] });
    nodes.push({ opType: 'Add', input: ['h_tok', 'h_type'], output: ['h_tt'] });
    nodes.push({ opType: 'Add', input: ['h_tt', 'h_mask'], output: [output] });
    graphInputs.push(valueInfo(inputs.tokenTypeIds, ONNX_DATA_TYPE.INT64, ['batch', 'sequence']));
  } else {
    nodes.push({ opType: 'Add', input: ['h_tok', 'h_mask'], output: [output] });
  }
  return onnx.ModelProto.encode({
    irVersion: 8,
    producerName: 'posterscope-tests',
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'tiny-sentence',
      node: nodes,
      initializer: [
        table('tokens', TINY_VOCAB.map((_, id) => tokenRow(id, dim))),
        table('types', [typeRow(0, dim), typeRow(1, dim)]),
        table('masks', [maskRow(0, dim), maskRow(1, dim)]),
      ],
      input: graphInputs,
      output: [valueInfo(output, ONNX_DATA_TYPE.FLOAT, ['batch', 'sequence', dim])],
    },
  }).finish();
}

/**
 * Writes the tiny model and tokenizer into `dir` under a row's file names and
 * returns the row with checksums and sizes filled in (and no download URL).
 */
export async function tinySentenceEncoder(dir: string, spec: SentenceEncoderSpec, options: { dim?: number; maxTokens?: number } = {}) {
  const dim = options.dim ?? 4;
  const model = tinySentenceModel({ dim, inputs: spec.inputs, output: spec.output });
  const tokenizer = new TextEncoder().encode(JSON.stringify(tinyTokenizerJson()));
  await writeFile(join(dir, spec.file.fileName), model);
  await writeFile(join(dir, spec.tokenizer.fileName), tokenizer);
  const row: SentenceEncoderSpec = {
    ...spec,
    dim,
    maxTokens: options.maxTokens ?? spec.maxTokens,
    file: { ...spec.file, urls: [], sha256: sha256(model), size: model.length },
    tokenizer: { ...spec.tokenizer, urls: [], sha256: sha256(tokenizer), size: tokenizer.length },
  };
  return { row, model, tokenizer };
}
