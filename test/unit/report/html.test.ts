/**
 * The report page from a tiny evaluation: its CSP allows exactly its own
 * script, the chart options travel as inert JSON, names are escaped, the
 * inputs section lists what the model reads or draws the modality table.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { evaluationCharts } from '../../../src/eval/curves.js';
import { evaluateScores } from '../../../src/eval/report.js';
import type { BundleManifest } from '../../../src/model/bundle.js';
import { reportContentSecurityPolicy, renderReportPage, unavailablePage } from '../../../src/report/html.js';

const genres = ['Drama', 'Horror<script>'];
const scores = new Float32Array([0.9, 0.2, 0.4, 0.7, 0.6, 0.1, 0.2, 0.8]);
const labels = new Uint8Array([1, 0, 1, 1, 0, 0, 0, 1]);
const policy = { global: 0.5 };
const report = evaluateScores({ scores, labels, rows: 4, genres, policy });
const charts = evaluationCharts({
  scores, labels, rows: 4, genres, policy, report,
  posters: [0, 1, 2, 3].map((r) => ({ id: `tt${r}`, image: `/p/tt${r}.jpg` })),
  history: [{ epoch: 1, trainLoss: 0.5, validationLoss: 0.6, validationMicroF1: 0.4, validationMAP: 0.5 }],
  bestEpoch: 1,
});
const manifest = {
  genres, thresholds: policy, views: ['native'], backbone: { id: 'mobilenetv2' }, heads: [{ input: 'image' }], createdAt: '2026-01-01T00:00:00Z',
} as unknown as BundleManifest;
const SCRIPT = 'document.documentElement.dataset.charts = "1"; const s = "</script>";';
const page = (extra = {}) =>
  renderReportPage({ evaluation: { ...report, charts, ...extra }, manifest, model: 'm', data: 'd.csv', split: 'test', thumbnails: new Map([['/p/tt2.jpg', 'data:image/webp;base64,AAAA']]), script: SCRIPT, createdAt: 'now' });

test('the page allows its one inline script by hash, in a <meta> CSP and in the served header', () => {
  const html = page();
  const inline = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
  assert.equal(inline.length, 1);
  assert.equal(inline[0], SCRIPT.replace('</script', '<\\/script'), 'a </script inside the script is escaped');
  const hash = `'sha256-${createHash('sha256').update(inline[0]!).digest('base64')}'`;
  const meta = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html)![1]!;
  assert.equal(meta, `default-src 'none'; script-src ${hash}; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'`);
  assert.equal(reportContentSecurityPolicy(html, { served: true }), `${meta}; sandbox allow-scripts; frame-ancestors 'none'`);
  // A page with no script allows none.
  assert.match(reportContentSecurityPolicy(unavailablePage('no report')), /script-src 'none'/);
});

test('chart options travel as JSON the browser never runs; names are escaped everywhere', () => {
  const html = page();
  const json = /<script type="application\/json" id="report-data">([\s\S]*?)<\/script>/.exec(html)![1]!;
  assert.ok(!json.includes('<'), 'no < inside the JSON block');
  const data = JSON.parse(json) as { charts: Record<string, unknown>; prCurves: Record<string, unknown> };
  assert.deepEqual(Object.keys(data.charts).sort(), ['balance', 'calibration', 'confusion', 'cooccurrence', 'history-loss', 'history-metrics', 'per-genre', 'sweep']);
  assert.deepEqual(Object.keys(data.prCurves).sort(), ['0', '1']);
  assert.ok(!html.replace(/<script>[\s\S]*?<\/script>/, '').includes('Horror<script>'), 'a genre name is escaped in the HTML');
  // Thumbnails are inline; a poster without one shows its id.
  assert.match(html, /<img src="data:image\/webp;base64,AAAA" alt="poster tt2">/);
  assert.match(html, /aria-label="no thumbnail for tt\d"/);
  // Baselines beside the numbers.
  assert.match(html, /prior baseline @/);
  assert.match(html, /random baseline @0\.500/);
});

test('per-genre thresholds show as a band on the threshold sweep', () => {
  const perGenre = { global: 0.5, perGenre: [0.3, null] };
  const withBand = evaluationCharts({ scores, labels, rows: 4, genres, policy: perGenre, report });
  const html = renderReportPage({ evaluation: { ...report, charts: withBand }, manifest: { ...manifest, thresholds: perGenre }, model: 'm', data: 'd', split: 'test', thumbnails: new Map(), script: SCRIPT });
  const data = JSON.parse(/id="report-data">([\s\S]*?)<\/script>/.exec(html)![1]!);
  assert.deepEqual(data.charts.sweep.series[0].markArea.data, [[{ xAxis: 0.3 }, { xAxis: 0.5 }]]);
  assert.equal(JSON.parse(/id="report-data">([\s\S]*?)<\/script>/.exec(page())![1]!).charts.sweep.series[0].markArea, undefined, 'no band for one global threshold');
});

test('the inputs section lists what the model reads, or draws the modality comparison when there is one', () => {
  assert.match(page(), /This model reads: <strong>image<\/strong>/);
  const row = { microF1: 0.5, precision: 0.5, recall: 0.5, macroF1: 0.3, mAP: 0.4, baselines: { prior: { microF1: 0.41, mAP: 0.1 }, random: { microF1: 0.16, mAP: 0.1 } } };
  const html = page({ modalities: { image: row, title: { ...row, microF1: 0.3 }, all: { ...row, microF1: 0.6 } } });
  assert.match(html, /data-chart="modalities"/);
  assert.match(html, /<th scope="row">title<\/th><td class="num">0\.300<\/td>/);
});
