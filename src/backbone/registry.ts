/**
 * Backbones are rows in a table: everything posterscope needs to fetch, check,
 * feed and read a pretrained image model is data here, and no other module
 * has code that is specific to one backbone.
 */
import { PosterscopeError, checkOneOf } from '../errors.js';
import type { ModelFileSpec } from '../models/resolve.js';

export interface Normalization {
  /** Multiplies the 0-255 pixel value first (1/255 maps to [0, 1]). */
  scale: number;
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
}

export interface FeatureSpec {
  /** Graph tensor holding the pooled image feature. */
  tensor: string;
  /** When the tensor is quantised (uint8), its scale and zero-point initialisers: a DequantizeLinear is added. */
  dequantize?: { scale: string; zeroPoint: string };
  /** Length of the feature vector once flattened. */
  dim: number;
}

export interface BackboneSpec {
  id: string;
  description: string;
  file: ModelFileSpec;
  input: {
    name: string;
    layout: 'NCHW' | 'NHWC';
    /** Height and width the network expects. */
    height: number;
    width: number;
  };
  /**
   * How the backbone's own `native` view maps a poster onto the input:
   * `squash` resizes the whole poster to the input size, `shorter-side-crop`
   * resizes the shorter side to the input size and cuts the centre (CLIP's way).
   */
  resize: { policy: 'squash' | 'shorter-side-crop'; kernel: 'linear' | 'cubic' };
  normalization: Normalization;
  feature: FeatureSpec;
  licence: string;
}

const IMAGENET: Normalization = { scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
const CLIP: Normalization = {
  scale: 1 / 255,
  mean: [0.48145466, 0.4578275, 0.40821073],
  std: [0.26862954, 0.26130258, 0.27577711],
};

const ONNX_ZOO = 'https://github.com/onnx/models/raw/main/validated/vision/classification';

export const BACKBONES: readonly BackboneSpec[] = [
  {
    id: 'mobilenetv2',
    description: 'MobileNetV2 1.0 ImageNet-1k, int8 (ONNX Model Zoo); fast on CPU',
    file: {
      fileName: 'mobilenetv2-12-int8.onnx',
      urls: [`${ONNX_ZOO}/mobilenet/model/mobilenetv2-12-int8.onnx`],
      sha256: '83530ad811bc31d2b60a5599a21265a5057608c9b044b4ee758cc22f2309f54f',
      size: 3_655_640,
    },
    input: { name: 'input', layout: 'NCHW', height: 224, width: 224 },
    resize: { policy: 'squash', kernel: 'linear' },
    normalization: IMAGENET,
    feature: { tensor: '464_quantized', dequantize: { scale: '464_scale', zeroPoint: '464_zero_point' }, dim: 1280 },
    licence: 'Apache-2.0',
  },
  {
    id: 'resnet50',
    description: 'ResNet50 v1 ImageNet-1k, int8 (ONNX Model Zoo); the reference systems\' backbone',
    file: {
      fileName: 'resnet50-v1-12-int8.onnx',
      urls: [`${ONNX_ZOO}/resnet/model/resnet50-v1-12-int8.onnx`],
      sha256: 'c234f30975989788b4405f25253275aae247ab6dbdd34aaa69ab0a59ff76f6d0',
      size: 25_816_052,
    },
    input: { name: 'data', layout: 'NCHW', height: 224, width: 224 },
    resize: { policy: 'squash', kernel: 'linear' },
    normalization: IMAGENET,
    feature: {
      tensor: 'flatten_473_quantized',
      dequantize: { scale: 'flatten_473_scale', zeroPoint: 'flatten_473_zero_point' },
      dim: 2048,
    },
    licence: 'Apache-2.0',
  },
  {
    id: 'clip-vit-b32',
    description: 'CLIP ViT-B/32 image encoder (Transformers.js ONNX export, quantised)',
    file: {
      fileName: 'clip-vit-base-patch32-vision_model_quantized.onnx',
      urls: ['https://huggingface.co/Xenova/clip-vit-base-patch32/resolve/main/onnx/vision_model_quantized.onnx'],
      // The publisher gives no checksum we could verify offline; the size pins the file
      // and resolution warns that the content is unverified.
      sha256: null,
      size: 89_117_001,
    },
    input: { name: 'pixel_values', layout: 'NCHW', height: 224, width: 224 },
    resize: { policy: 'shorter-side-crop', kernel: 'cubic' },
    normalization: CLIP,
    feature: { tensor: 'image_embeds', dim: 512 },
    licence: 'MIT',
  },
];

export const DEFAULT_BACKBONE = 'mobilenetv2';

/**
 * Looks a backbone up by id.
 *
 * @example
 *   getBackboneSpec('mobilenetv2').feature.dim // -> 1280
 */
export function getBackboneSpec(id: string, table: readonly BackboneSpec[] = BACKBONES): BackboneSpec {
  checkOneOf('backbone', table.map((row) => row.id), id);
  return table.find((row) => row.id === id)!;
}

/** Checks a backbone row read from JSON (a row file, a bundle's manifest); errors start with `source`. */
export function checkBackboneSpec(row: unknown, source: string): BackboneSpec {
  const fail = (what: string): never => {
    throw new PosterscopeError('INVALID_ARGUMENT', `${source}: backbone row ${what}`, { subject: source });
  };
  if (typeof row !== 'object' || row === null) return fail('is not a JSON object');
  const r = row as Partial<BackboneSpec>;
  if (typeof r.id !== 'string' || !/^[a-z0-9][a-z0-9._-]*$/i.test(r.id)) fail('needs "id" (letters, digits, . _ -)');
  if (typeof r.file?.fileName !== 'string' || !Array.isArray(r.file.urls)) fail('needs "file" with "fileName" and "urls"');
  if (r.file!.sha256 !== null && !/^[0-9a-f]{64}$/.test(String(r.file!.sha256))) fail('"file.sha256" must be 64 hex digits or null');
  if (typeof r.input?.name !== 'string' || !['NCHW', 'NHWC'].includes(String(r.input.layout))) fail('needs "input" with "name" and "layout" NCHW|NHWC');
  if (!(Number(r.input!.height) > 0 && Number(r.input!.width) > 0)) fail('needs positive "input.height" and "input.width"');
  if (!['squash', 'shorter-side-crop'].includes(String(r.resize?.policy)) || !['linear', 'cubic'].includes(String(r.resize?.kernel))) {
    fail('needs "resize" with "policy" squash|shorter-side-crop and "kernel" linear|cubic');
  }
  const n = r.normalization;
  if (!n || typeof n.scale !== 'number' || n.mean?.length !== 3 || n.std?.length !== 3) fail('needs "normalization" with "scale", 3 "mean" and 3 "std"');
  if (typeof r.feature?.tensor !== 'string' || !(Number(r.feature.dim) > 0)) fail('needs "feature" with "tensor" and positive "dim"');
  const spec = r as BackboneSpec;
  return { ...spec, description: spec.description ?? '', licence: spec.licence ?? 'unknown' };
}

/**
 * A backbone by registry id, or a row of your own from a JSON file (same
 * fields as `BackboneSpec`): new backbones need no code.
 *
 * @example
 *   (await loadBackboneSpec('my-backbone.json')).id // -> 'my-backbone'
 */
export async function loadBackboneSpec(idOrFile: string): Promise<BackboneSpec> {
  if (!idOrFile.endsWith('.json')) return getBackboneSpec(idOrFile);
  const { readFile } = await import('node:fs/promises');
  let text: string;
  try {
    text = await readFile(idOrFile, 'utf8');
  } catch {
    throw new PosterscopeError('INVALID_ARGUMENT', `${idOrFile}: backbone row file not found`, { subject: idOrFile });
  }
  let row: unknown;
  try {
    row = JSON.parse(text);
  } catch (cause) {
    throw new PosterscopeError('INVALID_ARGUMENT', `${idOrFile}: not valid JSON (${(cause as Error).message})`, { subject: idOrFile });
  }
  return checkBackboneSpec(row, idOrFile);
}
