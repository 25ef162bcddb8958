// posterscope web page: uploads posters to /v1/predict/batch and marks genres
// on the client, so moving the threshold or top-k never re-runs inference.
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
};

const CHUNK = 8; // posters per request: results appear progressively and requests stay small
const VISIBLE_BARS = 8; // the rest of the 25 genres fold into a <details>

/** @type {{ genres: string[], views: string[], thresholds: { global: number, perGenre?: (number|null)[], topK?: number, atLeastOne?: boolean } } | null} */
let model = null;
let sliderMoved = false; // once moved, the slider replaces any per-genre thresholds
let generation = 0; // bumped by Clear and the TTA toggle; older responses are dropped
let controller = new AbortController(); // aborts the requests of older generations
let queue = Promise.resolve();
let nextId = 0;
/** @type {{ id: number, file: File, name: string, url: string, scores: {genre: string, score: number}[] | null, error: {code: string, message: string} | null, pending: boolean, card: HTMLElement, row: HTMLTableRowElement }[]} */
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
  if (pending > 0) return setStatus(`Predicting ${plural(pending, 'poster')}…`);
  if (items.length === 0) return setStatus(model ? 'Ready: add posters to see their genres.' : ui.status.textContent);
  const rejected = items.filter((it) => it.error).length;
  setStatus(`Done: ${plural(items.length, 'poster')}${rejected ? `, ${rejected} rejected` : ''}.`);
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

function renderCard(item) {
  const thumb = el('div', { class: 'thumb' });
  const img = el('img', { src: item.url, alt: '', loading: 'lazy' });
  img.addEventListener('error', () => img.replaceWith(el('span', { class: 'no-preview', text: 'no preview' })));
  thumb.append(img);
  const body = el('div', { class: 'body' }, el('h3', { class: 'name', text: item.name, title: item.name }));
  if (item.pending) body.append(el('p', { class: 'pending', text: 'Predicting…' }));
  if (item.error) body.append(el('p', { class: 'error', role: 'alert', text: item.error.message }));
  if (item.scores) {
    body.append(el('p', { class: 'genres' }));
    const lists = el('ol', { class: 'bars', 'aria-label': `Genre scores for ${item.name}` }, ...item.scores.slice(0, VISIBLE_BARS).map(barRow));
    body.append(lists);
    const rest = item.scores.slice(VISIBLE_BARS);
    if (rest.length) {
      body.append(el('details', { class: 'more' }, el('summary', { text: `${rest.length} more genres` }), el('ol', { class: 'bars', start: VISIBLE_BARS + 1 }, ...rest.map(barRow))));
    }
  }
  const card = el('article', { class: `result${item.pending ? ' is-pending' : ''}${item.error ? ' has-error' : ''}`, 'data-input': item.name }, thumb, body);
  if (item.card) item.card.replaceWith(card);
  else ui.results.append(card);
  item.card = card;
  if (!item.row) {
    item.row = el('tr', {}, el('th', { scope: 'row' }), el('td'), el('td'));
    ui.tableBody.append(item.row);
  }
  mark(item);
}

/** Re-marks one poster's genres from its scores: no request. */
function mark(item) {
  const [nameCell, genresCell, topCell] = item.row.children;
  nameCell.textContent = item.name;
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

async function postBatch(chunk, query, signal) {
  for (let attempt = 0; ; attempt++) {
    const form = new FormData();
    for (const item of chunk) form.append('images', item.file, item.name);
    const response = await fetch(`/v1/predict/batch${query}`, { method: 'POST', body: form, signal });
    // 503 = the server is busy with other posters: wait and retry a few times.
    if (response.status === 503 && attempt < 3) {
      await new Promise((resolve) => setTimeout(resolve, 1000 * (attempt + 1)));
      continue;
    }
    const body = await response.json().catch(() => null);
    if (response.ok && Array.isArray(body)) return body;
    const error = body?.error ?? { code: `HTTP_${response.status}`, message: `the server answered ${response.status} ${response.statusText}` };
    return chunk.map((item) => ({ input: item.name, genres: [], scores: [], error: { code: error.code, message: error.message.startsWith(item.name) || chunk.length > 1 ? error.message : `${item.name}: ${error.message}` } }));
  }
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
    for (let i = 0; i < batch.length; i += CHUNK) {
      if (ours !== generation) return;
      const chunk = batch.slice(i, i + CHUNK);
      let predictions;
      try {
        predictions = await postBatch(chunk, query, signal);
      } catch {
        predictions = chunk.map(() => ({ error: { code: 'NETWORK', message: 'Could not reach the posterscope server.' } }));
      }
      if (ours !== generation) return;
      chunk.forEach((item, j) => {
        const p = predictions[j] ?? { error: { code: 'MISSING', message: `${item.name}: no result from the server` } };
        Object.assign(item, { pending: false, error: p.error ?? null, scores: p.error ? null : [...p.scores].sort((a, b) => b.score - a.score) });
        renderCard(item);
      });
      refreshSummary();
      updateStatus();
    }
  });
}

function addFiles(files) {
  const added = [...files].map((file) => ({ id: nextId++, file, name: file.name, url: URL.createObjectURL(file), scores: null, error: null, pending: true, card: null, row: null }));
  if (added.length === 0) return;
  items.push(...added);
  predict(added);
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
  return items.filter((it) => !it.pending).map((it) => (it.error ? { input: it.name, genres: [], scores: [], error: it.error } : { input: it.name, genres: decide(it.scores), scores: it.scores }));
}

const csvField = (value) => (/[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value);

function toCsv(rows) {
  const genres = model?.genres ?? rows.find((r) => r.scores.length)?.scores.map((s) => s.genre).sort() ?? [];
  const lines = [['input', 'genres', 'error', ...genres].map(csvField).join(',')];
  for (const row of rows) {
    const score = new Map(row.scores.map((s) => [s.genre, s.score]));
    const cells = [row.input, row.genres.join('|'), row.error?.message ?? '', ...genres.map((g) => (score.has(g) ? String(Number(score.get(g).toFixed(4))) : ''))];
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
  if (views.length <= 1 && views[0] === 'native') {
    ui.tta.disabled = true; // this model looks at one view only: nothing to toggle
    ui.tta.checked = false;
  }
  ui.tta.title = `Checked: ${views.join(' + ')}; unchecked: native only`;
  const test = metrics?.test;
  const prior = test?.baselines?.prior;
  ui.metrics.textContent = test
    ? `On ${test.rows ? `${test.rows} ` : ''}posters it never saw in training, micro-F1 ${fmt3(test.microF1)} and mAP ${fmt3(test.mAP)}` +
      (prior ? `; guessing from genre frequencies alone gets micro-F1 ${fmt3(prior.microF1)}${prior.mAP !== undefined ? `, mAP ${fmt3(prior.mAP)}` : ''}` : '') +
      `. Model ${model.version ?? ''}, ${model.backbone?.id ?? 'unknown'} backbone, ${model.genres.length} genres.`
    : `No test metrics recorded for this model (${model.backbone?.id ?? 'unknown'} backbone, ${model.genres.length} genres).`;
  markAll();
  updateStatus();
}

refreshSummary();
loadModelInfo();
