// posterscope web page: uploads posters (with an optional title and plot each)
// to /v1/predict/batch, or text alone as JSON, and marks genres on the client,
// so moving the threshold or top-k never re-runs inference.
// Genres are marked by the library's own rule (src/eval/decide.ts, served as
// /decide.js), so the page and the server always agree.
import { decideGenres, genreThresholds, withOverrides } from './decide.js';

const $ = (selector) => document.querySelector(selector);
const ui = {
  input: $('#file-input'),
  dropZone: $('#drop-zone'),
  threshold: $('#threshold'),
  thresholdValue: $('#threshold-value'),
  thresholdNote: $('#threshold-note'),
  topK: $('#top-k'),
  tta: $('#tta'),
  clear: $('#clear'),
  status: $('#status'),
  results: $('#results'),
  summary: $('#summary'),
  tableBody: $('#results-table tbody'),
  csv: $('#download-csv'),
  json: $('#download-json'),
  metrics: $('#model-metrics'),
  textForm: $('#text-form'),
  textTitle: $('#text-title'),
  textPlot: $('#text-plot'),
  textNote: $('#text-note'),
  textError: $('#text-error'),
};

const INPUT_NAMES = { image: 'poster', title: 'title', plot: 'plot' };
const DEFAULT_MAX_TEXT_BYTES = 20000;

const CHUNK = 8; // posters per request: results appear progressively and requests stay small
const VISIBLE_BARS = 8; // the rest of the 25 genres fold into a <details>

/** @type {{ genres: string[], accepts?: string[], limits?: { maxTextBytes: number }, views: string[], thresholds: { global: number, perGenre?: (number|null)[], topK?: number, atLeastOne?: boolean } } | null} */
let model = null;
let sliderMoved = false; // once moved, the slider replaces any per-genre thresholds
let generation = 0; // bumped by Clear and the TTA toggle; older responses are dropped
let controller = new AbortController(); // aborts the requests of older generations
let queue = Promise.resolve();
let nextId = 0;
/** @type {{ id: number, file: File | null, name: string, url: string | null, title: string, plot: string, inputs: string[], textOpen: boolean, scores: {genre: string, score: number}[] | null, error: {code: string, message: string} | null, pending: boolean, card: HTMLElement, row: HTMLTableRowElement }[]} */
let items = [];

const fmt = (x) => x.toFixed(2);
const fmt3 = (x) => x.toFixed(3);
const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key.startsWith('data-') || key.startsWith('aria-') || key === 'role') node.setAttribute(key, value);
    else node[key] = value;
  }
  node.append(...children);
  return node;
}

// ---- the threshold policy: the model's, with the page's controls as overrides

function topK() {
  const k = Number.parseInt(ui.topK.value, 10);
  return k >= 1 ? Math.min(k, model?.genres.length ?? k) : null;
}

/** The model's policy; once the slider has moved, its value replaces every threshold. An empty top-k box means no limit. */
function policy() {
  const overrides = { topK: topK() };
  if (sliderMoved || !model?.thresholds.perGenre) overrides.threshold = Number(ui.threshold.value);
  return withOverrides(model?.thresholds ?? { global: 0.5 }, overrides, genreNames().length);
}

function genreNames() {
  return model?.genres ?? (items.find((it) => it.scores)?.scores.map((s) => s.genre) ?? []);
}

function thresholdFor(genre) {
  return genreThresholds(policy(), genreNames().length)[genreNames().indexOf(genre)];
}

/** Predicted genres, highest score first. */
function decide(scores) {
  return decideGenres(genreNames(), scores, policy());
}

// ---- rendering

function setStatus(text) {
  ui.status.textContent = text;
}

function updateStatus() {
  const pending = items.filter((it) => it.pending).length;
  const noun = items.some((it) => !it.file) ? 'input' : 'poster';
  if (pending > 0) return setStatus(`Predicting ${plural(pending, noun)}…`);
  if (items.length === 0) return setStatus(model ? 'Ready: add posters (or type a title and plot) to see their genres.' : ui.status.textContent);
  const rejected = items.filter((it) => it.error).length;
  setStatus(`Done: ${plural(items.length, noun)}${rejected ? `, ${rejected} rejected` : ''}.`);
}

function barRow({ genre, score }) {
  return el('li', { class: 'bar', 'data-genre': genre, 'data-score': String(score), title: `${genre}: ${score.toFixed(3)}` },
    el('span', { class: 'genre', text: genre }),
    el('span', { class: 'track', 'aria-hidden': 'true' },
      el('span', { class: 'fill', style: `width:${(score * 100).toFixed(1)}%` }),
      el('span', { class: 'tick' })),
    el('span', { class: 'score', text: fmt(score) }),
    el('span', { class: 'visually-hidden state' }));
}

/** What the model used, and any text it was given but does not read. */
function usedLine(item) {
  const used = item.inputs.map((input) => INPUT_NAMES[input] ?? input);
  const given = [item.title.trim() && 'title', item.plot.trim() && 'plot'].filter(Boolean);
  const ignored = given.filter((input) => !item.inputs.includes(input));
  const line = el('p', { class: 'used', 'data-inputs': item.inputs.join(',') }, `Used: ${used.join(' + ') || 'nothing'}`);
  if (ignored.length) line.append(' ', el('span', { class: 'ignored', text: `(${ignored.join(' and ')} not read by this model)` }));
  return line;
}

/** The card's title and plot boxes: change them and predict this poster again. */
function textEditor(item) {
  const id = `item-${item.id}`;
  const title = el('input', { type: 'text', id: `${id}-title`, value: item.title, autocomplete: 'off' });
  const plot = el('textarea', { id: `${id}-plot`, rows: 3, value: item.plot });
  const form = el('form', { class: 'text-form-item' },
    el('label', { htmlFor: `${id}-title`, text: 'Title' }), title,
    el('label', { htmlFor: `${id}-plot`, text: 'Plot' }), plot,
    el('button', { type: 'submit', class: 'secondary', text: item.file ? 'Predict again with this text' : 'Predict again' }));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!item.file && !title.value.trim() && !plot.value.trim()) return;
    Object.assign(item, { title: title.value, plot: plot.value, textOpen: true, refocus: true });
    predict([item]);
  });
  const details = el('details', { class: 'text-edit', open: item.textOpen }, el('summary', { text: item.file ? (item.title || item.plot ? 'Title and plot' : 'Add title and plot') : 'Edit text' }), form);
  details.addEventListener('toggle', () => (item.textOpen = details.open));
  return details;
}

function renderCard(item) {
  let thumb;
  if (item.file) {
    thumb = el('div', { class: 'thumb' });
    const img = el('img', { src: item.url, alt: '', loading: 'lazy' });
    img.addEventListener('error', () => img.replaceWith(el('span', { class: 'no-preview', text: 'no preview' })));
    thumb.append(img);
  } else {
    thumb = el('div', { class: 'thumb text-only', 'aria-hidden': 'true', text: 'text only' });
  }
  const body = el('div', { class: 'body' }, el('h3', { class: 'name', text: item.name, title: item.name }));
  if (item.pending) body.append(el('p', { class: 'pending', text: 'Predicting…' }));
  if (item.error) body.append(el('p', { class: 'error', role: 'alert', text: item.error.message }));
  if (item.scores) body.append(usedLine(item));
  if (item.scores) {
    body.append(el('p', { class: 'genres' }));
    const lists = el('ol', { class: 'bars', 'aria-label': `Genre scores for ${item.name}` }, ...item.scores.slice(0, VISIBLE_BARS).map(barRow));
    body.append(lists);
    const rest = item.scores.slice(VISIBLE_BARS);
    if (rest.length) {
      body.append(el('details', { class: 'more' }, el('summary', { text: `${rest.length} more genres` }), el('ol', { class: 'bars', start: VISIBLE_BARS + 1 }, ...rest.map(barRow))));
    }
  }
  if (!item.pending) body.append(textEditor(item));
  const card = el('article', { class: `result${item.pending ? ' is-pending' : ''}${item.error ? ' has-error' : ''}${item.file ? '' : ' is-text'}`, 'data-input': item.name }, thumb, body);
  // Re-rendering replaces the card: keep the keyboard in it (on the card while it
  // predicts, then back on the text boxes' button), never dropped to the page.
  const refocus = item.refocus || item.card?.contains(document.activeElement);
  if (item.card) item.card.replaceWith(card);
  else ui.results.append(card);
  item.card = card;
  if (refocus) {
    const target = card.querySelector('.text-edit[open] button') ?? card.querySelector('.text-edit summary');
    item.refocus = !target;
    if (target) target.focus();
    else {
      card.tabIndex = -1;
      card.focus();
    }
  }
  if (!item.row) {
    item.row = el('tr', {}, el('th', { scope: 'row' }), el('td'), el('td'), el('td'));
    ui.tableBody.append(item.row);
  }
  mark(item);
}

/** Re-marks one poster's genres from its scores: no request. */
function mark(item) {
  const [nameCell, genresCell, topCell, usedCell] = item.row.children;
  nameCell.textContent = item.name;
  usedCell.textContent = item.scores ? item.inputs.map((input) => INPUT_NAMES[input] ?? input).join(' + ') : '';
  if (!item.scores) {
    genresCell.textContent = item.error ? item.error.message : 'predicting…';
    genresCell.className = item.error ? 'error' : 'muted';
    topCell.textContent = '';
    return;
  }
  const chosen = new Set(decide(item.scores));
  for (const bar of item.card.querySelectorAll('.bar')) {
    const on = chosen.has(bar.dataset.genre);
    bar.classList.toggle('predicted', on);
    bar.querySelector('.state').textContent = on ? ' (predicted)' : '';
    bar.style.setProperty('--t', `${(thresholdFor(bar.dataset.genre) * 100).toFixed(1)}%`);
  }
  const genres = [...chosen];
  const hidden = [...item.card.querySelectorAll('.more .bar.predicted')].length;
  const summary = item.card.querySelector('.more summary');
  if (summary) summary.textContent = `${item.scores.length - VISIBLE_BARS} more genres${hidden ? ` (${hidden} predicted)` : ''}`;
  const line = item.card.querySelector('.genres');
  line.replaceChildren(...(genres.length ? genres.map((g) => el('span', { class: 'chip', text: g })) : [el('span', { class: 'muted', text: 'No genre above the threshold' })]));
  genresCell.textContent = genres.join(', ') || '—';
  genresCell.className = '';
  topCell.textContent = item.scores.slice(0, 3).map((s) => `${s.genre} ${fmt(s.score)}`).join(' · ');
}

function markAll() {
  ui.thresholdValue.textContent = fmt(Number(ui.threshold.value));
  for (const item of items) mark(item);
  refreshSummary();
}

function refreshSummary() {
  ui.summary.hidden = items.length === 0;
  const done = items.some((it) => it.scores);
  ui.csv.disabled = !done;
  ui.json.disabled = !done;
  ui.clear.disabled = items.length === 0;
}

// ---- requests

function restart() {
  generation++;
  controller.abort();
  controller = new AbortController();
}

const utf8Bytes = (text) => new TextEncoder().encode(text).length;
const maxTextBytes = () => model?.limits?.maxTextBytes ?? DEFAULT_MAX_TEXT_BYTES;

/** Why an item's text would be refused (413), said before sending it; null when it fits. */
function textProblem(item) {
  for (const field of ['title', 'plot']) {
    const bytes = utf8Bytes(item[field]);
    if (bytes > maxTextBytes()) return { code: 'TOO_LARGE', message: `${item.name}: the ${field} is ${bytes} bytes; the server takes at most ${maxTextBytes()}` };
  }
  return null;
}

const textOf = (item) => {
  const text = {};
  if (item.title.trim()) text.title = item.title;
  if (item.plot.trim()) text.plot = item.plot;
  return text;
};

/** One request for a chunk: posters as multipart (their text in the field `texts`), text alone as JSON. */
function batchRequest(chunk) {
  if (chunk[0].file) {
    const form = new FormData();
    for (const item of chunk) form.append('images', item.file, item.name);
    // Only sent when some poster has text, so poster-only requests stay as they were.
    if (chunk.some((item) => item.title.trim() || item.plot.trim())) form.append('texts', JSON.stringify(chunk.map(textOf)));
    return { body: form };
  }
  return { body: JSON.stringify({ items: chunk.map(textOf) }), headers: { 'content-type': 'application/json' } };
}

async function postBatch(chunk, query, signal) {
  for (let attempt = 0; ; attempt++) {
    const response = await fetch(`/v1/predict/batch${query}`, { method: 'POST', ...batchRequest(chunk), signal });
    // 503 = the server is busy with other posters: wait and retry a few times.
    if (response.status === 503 && attempt < 3) {
      await new Promise((resolve) => setTimeout(resolve, 1000 * (attempt + 1)));
      continue;
    }
    const body = await response.json().catch(() => null);
    if (response.ok && Array.isArray(body)) return body;
    const error = body?.error ?? { code: `HTTP_${response.status}`, message: `the server answered ${response.status} ${response.statusText}` };
    return chunk.map((item) => ({ input: item.name, inputs: [], genres: [], scores: [], error: { code: error.code, message: error.message.startsWith(item.name) || chunk.length > 1 ? error.message : `${item.name}: ${error.message}` } }));
  }
}

/** Chunks of at most CHUNK items, posters and text-only inputs apart (they go in different request forms). */
function chunksOf(batch) {
  const chunks = [];
  for (const kind of [true, false]) {
    const same = batch.filter((item) => Boolean(item.file) === kind);
    for (let i = 0; i < same.length; i += CHUNK) chunks.push(same.slice(i, i + CHUNK));
  }
  return chunks;
}

function predict(batch) {
  const ours = generation;
  const { signal } = controller;
  const query = ui.tta.checked ? '' : '?tta=single';
  for (const item of batch) Object.assign(item, { pending: true, error: null });
  batch.forEach(renderCard);
  refreshSummary();
  updateStatus();
  queue = queue.then(async () => {
    for (const all of chunksOf(batch)) {
      if (ours !== generation) return;
      // Text over the server's limit is refused here, on its own card, rather than failing the whole chunk.
      for (const item of all) {
        const problem = textProblem(item);
        if (problem) Object.assign(item, { pending: false, error: problem, scores: null, inputs: [] });
      }
      const refused = all.filter((item) => item.error);
      refused.forEach(renderCard);
      const chunk = all.filter((item) => !item.error);
      if (refused.length) {
        refreshSummary();
        updateStatus();
      }
      if (chunk.length === 0) continue;
      let predictions;
      try {
        predictions = await postBatch(chunk, query, signal);
      } catch {
        predictions = chunk.map(() => ({ error: { code: 'NETWORK', message: 'Could not reach the posterscope server.' } }));
      }
      if (ours !== generation) return;
      chunk.forEach((item, j) => {
        const p = predictions[j] ?? { error: { code: 'MISSING', message: `${item.name}: no result from the server` } };
        Object.assign(item, { pending: false, error: p.error ?? null, inputs: p.inputs ?? (p.error ? [] : ['image']), scores: p.error ? null : [...p.scores].sort((a, b) => b.score - a.score) });
        renderCard(item);
      });
      refreshSummary();
      updateStatus();
    }
  });
}

function newItem(fields) {
  return { id: nextId++, file: null, url: null, title: '', plot: '', inputs: [], textOpen: false, scores: null, error: null, pending: true, card: null, row: null, ...fields };
}

function addFiles(files) {
  const added = [...files].map((file) => newItem({ file, name: file.name, url: URL.createObjectURL(file) }));
  if (added.length === 0) return;
  items.push(...added);
  predict(added);
}

/** Text-only mode: a title and / or a plot, no poster. */
function addText(title, plot) {
  const name = title.trim() || `plot: ${plot.trim().slice(0, 40)}${plot.trim().length > 40 ? '…' : ''}`;
  const item = newItem({ name, title, plot });
  items.push(item);
  predict([item]);
}

// ---- downloads

function download(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = el('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function exported() {
  const text = (it) => ({ ...(it.title.trim() ? { title: it.title } : {}), ...(it.plot.trim() ? { plot: it.plot } : {}) });
  return items
    .filter((it) => !it.pending)
    .map((it) => (it.error ? { input: it.name, inputs: [], ...text(it), genres: [], scores: [], error: it.error } : { input: it.name, inputs: it.inputs, ...text(it), genres: decide(it.scores), scores: it.scores }));
}

const csvField = (value) => (/[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value);

function toCsv(rows) {
  const genres = model?.genres ?? rows.find((r) => r.scores.length)?.scores.map((s) => s.genre).sort() ?? [];
  const lines = [['input', 'genres', 'error', 'inputs', ...genres].map(csvField).join(',')];
  for (const row of rows) {
    const score = new Map(row.scores.map((s) => [s.genre, s.score]));
    const cells = [row.input, row.genres.join('|'), row.error?.message ?? '', row.inputs.join('|'), ...genres.map((g) => (score.has(g) ? String(Number(score.get(g).toFixed(4))) : ''))];
    lines.push(cells.map(csvField).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}

// ---- events

ui.dropZone.addEventListener('click', () => ui.input.click());
ui.input.addEventListener('change', () => {
  addFiles(ui.input.files);
  ui.input.value = ''; // choosing the same file again must fire 'change'
});

let dragDepth = 0;
document.addEventListener('dragenter', (e) => {
  e.preventDefault();
  dragDepth++;
  ui.dropZone.classList.add('dragging');
});
document.addEventListener('dragleave', () => {
  if (--dragDepth <= 0) ui.dropZone.classList.remove('dragging');
});
document.addEventListener('dragover', (e) => e.preventDefault()); // lets the page, not the browser, take a drop
document.addEventListener('drop', (e) => {
  e.preventDefault();
  dragDepth = 0;
  ui.dropZone.classList.remove('dragging');
  if (e.dataTransfer?.files.length) addFiles(e.dataTransfer.files);
});

ui.threshold.addEventListener('input', () => {
  sliderMoved = true;
  if (ui.thresholdNote) ui.thresholdNote.hidden = true;
  markAll();
});
ui.topK.addEventListener('input', markAll);
ui.tta.addEventListener('change', () => {
  restart();
  if (items.length) predict(items);
});
ui.clear.addEventListener('click', () => {
  restart();
  for (const item of items) URL.revokeObjectURL(item.url);
  items = [];
  ui.results.replaceChildren();
  ui.tableBody.replaceChildren();
  refreshSummary();
  updateStatus();
});
ui.textForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const title = ui.textTitle.value;
  const plot = ui.textPlot.value;
  if (!title.trim() && !plot.trim()) {
    ui.textError.textContent = 'Type a title or a plot first.';
    ui.textTitle.focus();
    return;
  }
  ui.textError.textContent = '';
  addText(title, plot);
  ui.textTitle.value = '';
  ui.textPlot.value = '';
});
ui.csv.addEventListener('click', () => download('posterscope-genres.csv', 'text/csv', toCsv(exported())));
ui.json.addEventListener('click', () => download('posterscope-genres.json', 'application/json', `${JSON.stringify(exported(), null, 2)}\n`));

// ---- start-up

async function loadModelInfo() {
  try {
    const response = await fetch('/v1/model');
    if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
    model = await response.json();
  } catch (error) {
    setStatus(`Could not load the model information (${error.message}); predictions may still work.`);
    ui.metrics.textContent = 'unknown: the model information could not be loaded.';
    return;
  }
  const { thresholds, views = [], metrics } = model;
  ui.threshold.value = String(thresholds.global);
  if (thresholds.topK) ui.topK.value = String(thresholds.topK);
  ui.topK.max = String(model.genres.length);
  if (thresholds.perGenre && ui.thresholdNote) ui.thresholdNote.hidden = false;
  if ((views.length <= 1 && views[0] === 'native') || !(model.accepts ?? ['image']).includes('image')) {
    ui.tta.disabled = true; // this model looks at one view only: nothing to toggle
    ui.tta.checked = false;
  }
  ui.tta.title = `Checked: ${views.join(' + ')}; unchecked: native only`;
  const accepts = model.accepts ?? ['image'];
  if (!accepts.includes('title') && !accepts.includes('plot')) {
    ui.textNote.hidden = false;
    ui.textNote.textContent = 'This model reads posters only: text is sent, and each result says what was used.';
  } else if (!accepts.includes('image')) {
    ui.textNote.hidden = false;
    ui.textNote.textContent = 'This model reads text only: posters need a title or plot.';
  }
  const test = metrics?.test;
  const prior = test?.baselines?.prior;
  const readsPosters = accepts.includes('image');
  const reads = readsPosters ? `${model.backbone?.id ?? 'unknown'} backbone` : `reads ${accepts.join(' and ')}, no poster`;
  ui.metrics.textContent = test
    ? `On ${test.rows ? `${test.rows} ` : ''}${readsPosters ? 'posters' : 'movies'} it never saw in training, micro-F1 ${fmt3(test.microF1)} and mAP ${fmt3(test.mAP)}` +
      (prior ? `; guessing from genre frequencies alone gets micro-F1 ${fmt3(prior.microF1)}${prior.mAP !== undefined ? `, mAP ${fmt3(prior.mAP)}` : ''}` : '') +
      `. Model ${model.version ?? ''}, ${reads}, ${model.genres.length} genres.`
    : `No test metrics recorded for this model (${reads}, ${model.genres.length} genres).`;
  markAll();
  updateStatus();
}

refreshSummary();
loadModelInfo();
