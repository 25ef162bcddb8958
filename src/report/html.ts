/**
 * The report page: one self-contained HTML file. Styles, the chart script
 * (ECharts bundled by `npm run build`), the charts' options and the poster
 * thumbnails are all inline, so it opens offline and never makes a request;
 * its own Content-Security-Policy (a <meta>, the script allowed by hash)
 * enforces that. Keyboard-usable (skip link, table of contents, a genre
 * picker, every number also in a table), printable, readable at phone width.
 */
import { createHash } from 'node:crypto';
import type { BundleManifest } from '../model/bundle.js';
import type { DecisionMetrics } from '../eval/metrics.js';
import { VERSION } from '../version.js';
import {
  type ChartedEvaluation,
  type ReportChart,
  balanceChart,
  calibrationChart,
  confusionCharts,
  historyLossChart,
  historyMetricsChart,
  modalityChart,
  perGenreChart,
  precisionRecallChart,
  sweepChart,
} from './charts.js';

export interface ReportPage {
  evaluation: ChartedEvaluation;
  manifest: BundleManifest;
  /** The bundle's path, the data file and which rows, for the heading. */
  model: string;
  data: string;
  split: string;
  skipped?: number;
  /** Poster image path -> data: URI of its thumbnail (missing ones show their id only). */
  thumbnails: ReadonlyMap<string, string>;
  /** The bundled chart script (dist/web/report.js). */
  script: string;
  /** When the report was made; default now. */
  createdAt?: string;
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const f3 = (v: number | null | undefined) => (v === null || v === undefined ? '–' : v.toFixed(3));

/** A script's CSP source: 'sha256-<base64>' of its exact text. */
const hashSource = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
const INLINE_SCRIPT = /<script>([\s\S]*?)<\/script>/g;

/**
 * The Content-Security-Policy a report needs and no more: its own inline
 * script (by hash), inline styles, data: images; nothing may be fetched.
 * `served` adds what only a header can say: the page is sandboxed (its
 * script runs in an opaque origin, so it cannot call the server's API) and
 * may not be framed.
 *
 * @example
 *   reportContentSecurityPolicy(html, { served: true })
 *   // -> "default-src 'none'; script-src 'sha256-…'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; sandbox allow-scripts; frame-ancestors 'none'"
 */
export function reportContentSecurityPolicy(html: string, options: { served?: boolean } = {}): string {
  const scripts = [...html.matchAll(INLINE_SCRIPT)].map((m) => hashSource(m[1]!));
  return [
    "default-src 'none'",
    `script-src ${scripts.length ? scripts.join(' ') : "'none'"}`,
    "style-src 'unsafe-inline'",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
    ...(options.served ? ['sandbox allow-scripts', "frame-ancestors 'none'"] : []),
  ].join('; ');
}

function table(head: string[], rows: string[][], caption?: string): string {
  return [
    // A note above rather than a <caption>: a caption is as wide as its table and scrolls away with it on a phone.
    caption ? `<p class="note">${escapeHtml(caption)}</p>` : '',
    '<div class="table-wrap"><table>',
    `<thead><tr>${head.map((h, i) => `<th scope="col"${i ? ' class="num"' : ''}>${escapeHtml(h)}</th>`).join('')}</tr></thead>`,
    `<tbody>${rows.map((r) => `<tr>${r.map((c, i) => (i === 0 ? `<th scope="row">${c}</th>` : `<td class="num">${c}</td>`)).join('')}</tr>`).join('')}</tbody>`,
    '</table></div>',
  ].join('');
}

const DECISION_HEAD = ['decision', 'micro-F1', 'precision', 'recall', 'macro-F1', 'F0.5', 'exact match', 'mAP'];
const decisionRow = (label: string, m: DecisionMetrics, mAP: number, cls = '') =>
  [`<span class="${cls}">${escapeHtml(label)}</span>`, f3(m.microF1), f3(m.precision), f3(m.recall), f3(m.macroF1), f3(m.f05), f3(m.exactMatch), f3(mAP)];

function chartBlock(chart: ReportChart): string {
  return [
    `<figure class="chart-figure">`,
    `<figcaption><strong>${escapeHtml(chart.title)}.</strong> ${escapeHtml(chart.caption)}</figcaption>`,
    `<div class="chart" id="${chart.id}" data-chart="${chart.id}" role="img" aria-label="${escapeHtml(`${chart.title}. ${chart.caption}`)}" style="height:${chart.height}px"></div>`,
    '</figure>',
  ].join('');
}

const section = (id: string, title: string, body: string) => `<section id="${id}" aria-labelledby="${id}-h"><h2 id="${id}-h">${escapeHtml(title)}</h2>${body}</section>`;

const STYLE = `
:root{--bg:#fff;--text:#1d1d1f;--muted:#5f5f66;--line:#dedcd6;--accent:#c2410c;--soft:#fde7d9;--focus:#2563eb;color-scheme:light;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--text)}
.skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;background:#fff;padding:6px;z-index:9}
header,main,footer{max-width:1120px;margin:0 auto;padding:0 16px}
header{padding-top:20px}h1{font-size:1.6rem;margin:0 0 4px}h2{font-size:1.25rem;margin:32px 0 8px;border-top:2px solid var(--line);padding-top:16px}h3{font-size:1.05rem;margin:16px 0 6px}
.meta{color:var(--muted);margin:0 0 12px;overflow-wrap:anywhere}
nav ol{display:flex;flex-wrap:wrap;gap:4px 16px;padding:0;margin:8px 0;list-style:none}
a{color:var(--focus)}:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:8px;margin:12px 0}
.tile{border:1px solid var(--line);border-radius:8px;padding:8px 10px}.tile b{display:block;font-size:1.5rem;color:var(--accent)}.tile span{color:var(--muted);font-size:.85rem}
.chart-figure{margin:12px 0}.chart-figure figcaption{margin-bottom:4px}.chart{width:100%;min-width:0}
.pair{display:grid;grid-template-columns:1fr;gap:16px}@media(min-width:960px){.pair{grid-template-columns:1fr 1fr}}
.table-wrap{overflow-x:auto;margin:8px 0}table{border-collapse:collapse;font-size:.9rem;min-width:100%}.note{color:var(--muted);margin:8px 0 0;font-size:.9rem}
th,td{padding:3px 8px;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap}.num{text-align:right;font-variant-numeric:tabular-nums}
.baseline{color:var(--muted)}details{margin:8px 0}summary{cursor:pointer}
label{font-weight:600}select{font:inherit;padding:4px;margin-left:6px}
.genre-mistakes{border-top:1px solid var(--line);break-inside:avoid}
.posters{display:flex;flex-wrap:wrap;gap:10px;list-style:none;padding:0;margin:4px 0}
.posters figure{margin:0;width:132px;font-size:.78rem}.posters img{display:block;width:64px;height:auto;border-radius:3px;border:1px solid var(--line)}
.posters .noimg{display:block;width:64px;height:96px;background:#eee;border-radius:3px}
.kind{font-size:.9rem;color:var(--muted);margin:6px 0 0}
.kinds{display:grid;grid-template-columns:1fr;gap:0 24px}@media(min-width:900px){.kinds{grid-template-columns:1fr 1fr}}
footer{color:var(--muted);padding:24px 16px 40px;font-size:.85rem}
@media print{nav,.skip{display:none}h2{break-before:auto}section,figure{break-inside:avoid}body{font-size:11px}a{color:inherit}}
`;

/** Renders the report page. Pure: the thumbnails and the script are given. */
export function renderReportPage(page: ReportPage): string {
  const { evaluation: report, manifest } = page;
  const { charts } = report;
  const genres = manifest.genres;
  const { prior, random } = report.baselines;
  const options: Record<string, unknown> = {};
  const use = (chart: ReportChart) => {
    options[chart.id] = chart.option;
    return chartBlock(chart);
  };

  const tiles = [
    ['micro-F1', report.microF1, prior.microF1, random.microF1],
    ['mAP', report.mAP, prior.mAP, random.mAP],
    ['macro-F1', report.macroF1, prior.macroF1, random.macroF1],
    ['precision', report.precision, prior.precision, random.precision],
    ['recall', report.recall, prior.recall, random.recall],
  ] as const;
  const summary = `<div class="tiles">${tiles
    .map(([name, v, p, r]) => `<div class="tile"><span>${name}</span><b>${f3(v)}</b><span>prior ${f3(p)} · random ${f3(r)}</span></div>`)
    .join('')}</div>`;

  const historyTable = table(
    ['epoch', 'train loss', 'validation loss', 'validation micro-F1', 'validation mAP'],
    charts.history.map((e) => [`${e.epoch}${e.epoch === charts.bestEpoch ? ' (kept)' : ''}`, e.trainLoss.toFixed(4), e.validationLoss.toFixed(4), f3(e.validationMicroF1), f3(e.validationMAP)]),
    `prior on the evaluated posters: micro-F1 ${f3(prior.microF1)}, mAP ${f3(prior.mAP)}`,
  );
  const history = charts.history.length
    ? `<div class="pair">${use(historyLossChart(charts))}${use(historyMetricsChart(charts, report))}</div><details><summary>Per-epoch numbers</summary>${historyTable}</details>`
    : '<p>This bundle records no per-epoch history.</p>';

  const decisions = table(DECISION_HEAD, [
    ...report.thresholds.map((t) => decisionRow(t.threshold === 'policy' ? "model's policy" : `threshold ${t.threshold}`, t, report.mAP)),
    decisionRow(`prior baseline @${f3(prior.threshold)}`, prior, prior.mAP, 'baseline'),
    decisionRow(`random baseline @${f3(random.threshold)}`, random, random.mAP, 'baseline'),
  ], `${prior.description}; ${random.description}`);
  const perGenreThreshold = manifest.thresholds.perGenre?.some((t) => typeof t === 'number') ? ' Per-genre thresholds are in the genre table below.' : '';

  const byAp = [...charts.curves.keys()].filter((g) => charts.curves[g]!.points.length > 0).sort((a, b) => charts.curves[b]!.support - charts.curves[a]!.support);
  const prCurves: Record<string, unknown> = {};
  for (const g of byAp) prCurves[String(g)] = precisionRecallChart(charts.curves[g]!, charts.policyThresholds[g]!);
  const pr = byAp.length
    ? [
        '<figure class="chart-figure"><figcaption><strong>Precision–recall per genre.</strong> ',
        'Further up and right is better; the dashed line is what a random ranking (and the prior) gets, the dot the model\'s own threshold.</figcaption>',
        `<p><label for="pr-genre">Genre</label><select id="pr-genre">${byAp.map((g) => `<option value="${g}">${escapeHtml(genres[g]!)} (AP ${f3(charts.curves[g]!.ap)})</option>`).join('')}</select></p>`,
        '<div class="chart" id="pr-chart" role="img" aria-label="Precision-recall curve of the chosen genre" style="height:380px"></div></figure>',
      ].join('')
    : '<p>No genre has positives among these posters.</p>';

  const genreTable = table(
    ['genre', 'support', 'predicted', 'threshold', 'precision', 'recall', 'F1', 'prior F1', 'random F1', 'AP', 'prior AP', 'random AP'],
    report.perGenre
      .map((g, i) => ({ g, i }))
      .sort((a, b) => b.g.support - a.g.support)
      .map(({ g, i }) => {
        const b = charts.genreBaselines[i]!;
        return [escapeHtml(g.genre), String(g.support), String(g.predicted), f3(charts.policyThresholds[i]), f3(g.precision), f3(g.recall), f3(g.f1), f3(b.prior.f1), f3(b.random.f1), f3(g.ap), f3(b.prior.ap), f3(b.random.ap)];
      }),
  );
  const balanceTable = table(
    ['genre', ...Object.keys(charts.balance)],
    genres.map((g, i) => [escapeHtml(g), ...Object.keys(charts.balance).map((k) => String(charts.balance[k]![i]))]),
  );

  const sweepTable = table(
    ['threshold', 'precision', 'recall', 'micro-F1'],
    charts.sweep.filter((_, i) => (i + 1) % 5 === 0).map((p) => [p.threshold.toFixed(2), f3(p.precision), f3(p.recall), f3(p.microF1)]),
    `every 0.05; prior micro-F1 ${f3(prior.microF1)}, random ${f3(random.microF1)}`,
  );
  const { confusion } = charts;
  const confusionTable = table(
    ['true genre', 'posters', 'recall', 'most often predicted instead (share of its posters; share labelled with it)'],
    confusion.genres.map((g, t) => {
      const instead = confusion.predictedInstead[t]!
        .map((v, c) => ({ c, v }))
        .filter(({ c, v }) => c !== t && v > 0)
        .sort((a, b) => b.v - a.v)
        .slice(0, 3)
        .map(({ c, v }) => `${escapeHtml(confusion.genres[c]!)} ${f3(v)} (${f3(confusion.cooccurrence[t]![c])})`);
      return [escapeHtml(g), String(confusion.support[t]), f3(confusion.predictedInstead[t]![t]), instead.join(', ') || '–'];
    }),
  );
  const { calibration: cal } = charts;
  const calibrationTable = table(
    ['scores', 'pairs', 'mean score', 'observed frequency'],
    cal.bins.map((b) => [`${b.lower.toFixed(1)}–${b.upper.toFixed(1)}`, String(b.count), b.count ? f3(b.meanScore) : '–', b.count ? f3(b.positiveRate) : '–']),
    `ECE ${f3(cal.ece)}; prior ${f3(cal.baselines.prior)}, random ${f3(cal.baselines.random)}`,
  );

  const modality = report.modalities ? modalityChart(report.modalities) : undefined;
  const inputs = manifest.heads.map((h) => h.input).join(', ');
  const modalitySection = modality
    ? use(modality) +
      table(
        ['input', 'micro-F1', 'precision', 'recall', 'macro-F1', 'mAP', 'prior micro-F1', 'prior mAP', 'random micro-F1', 'random mAP'],
        Object.entries(report.modalities!)
          .filter(([, m]) => m)
          .map(([name, m]) => [escapeHtml(name), f3(m!.microF1), f3(m!.precision), f3(m!.recall), f3(m!.macroF1), f3(m!.mAP), f3(m!.baselines?.prior?.microF1), f3(m!.baselines?.prior?.mAP), f3(m!.baselines?.random?.microF1), f3(m!.baselines?.random?.mAP)]),
      )
    : `<p>This model reads: <strong>${escapeHtml(inputs)}</strong> (${manifest.backbone ? `backbone ${escapeHtml(manifest.backbone.id)}, views ${escapeHtml((manifest.views ?? []).join(', '))}` : 'no poster backbone'}${manifest.clean ? ', text removed first' : ''}). ` +
      `A comparison of inputs (image, title, plot, all) appears here once a model reads more than the poster. All inputs together: micro-F1 ${f3(report.microF1)}, mAP ${f3(report.mAP)} (prior ${f3(prior.microF1)} / ${f3(prior.mAP)}, random ${f3(random.microF1)} / ${f3(random.mAP)}).</p>`;

  const figure = (m: ChartedEvaluation['charts']['mistakes'][number]['falsePositives'][number], genre: string) => {
    const uri = m.image ? page.thumbnails.get(m.image) : undefined;
    const name = m.id ?? `row ${m.row}`;
    return [
      '<li><figure>',
      uri ? `<img src="${uri}" alt="poster ${escapeHtml(name)}">` : `<span class="noimg" role="img" aria-label="no thumbnail for ${escapeHtml(name)}"></span>`,
      `<figcaption><b>${escapeHtml(name)}</b> · ${escapeHtml(genre)} ${f3(m.score)}<br>true: ${escapeHtml(m.trueGenres.join(', ') || '–')}<br>predicted: ${escapeHtml(m.predictedGenres.join(', ') || '–')}</figcaption>`,
      '</figure></li>',
    ].join('');
  };
  const gallery = charts.mistakes
    .filter((g) => g.falsePositives.length + g.falseNegatives.length > 0)
    .map((g) => {
      const i = genres.indexOf(g.genre);
      const kinds = [
        ['predicted but wrong (most confident first)', g.falsePositives],
        ['missed (lowest score first)', g.falseNegatives],
      ] as const;
      return `<div class="genre-mistakes"><h3>${escapeHtml(g.genre)} <small class="baseline">threshold ${f3(g.threshold)} · F1 ${f3(report.perGenre[i]?.f1)} (prior ${f3(charts.genreBaselines[i]?.prior.f1)})</small></h3><div class="kinds">${kinds
        .filter(([, list]) => list.length)
        .map(([kind, list]) => `<div><p class="kind">${kind}</p><ul class="posters">${list.map((m) => figure(m, g.genre)).join('')}</ul></div>`)
        .join('')}</div></div>`;
    })
    .join('');

  const sections = [
    section('history', '1. Training history', history),
    section('threshold', '2. Threshold', `${use(sweepChart(charts, report, manifest.thresholds.global))}<p>The model's policy: global threshold ${f3(manifest.thresholds.global)}${manifest.thresholds.topK ? `, at most ${manifest.thresholds.topK} genres` : ''}${manifest.thresholds.atLeastOne ? ', at least one genre' : ''}.${perGenreThreshold}</p>${decisions}<details><summary>Sweep numbers</summary>${sweepTable}</details>`),
    section('pr', '3. Precision and recall per genre', pr),
    section('genres', '4. Per-genre results', `${use(perGenreChart(charts, report))}<details><summary>All per-genre numbers, with both baselines</summary>${genreTable}</details>`),
    section('balance', '5. Class balance', `${use(balanceChart(charts, genres))}<details><summary>Counts</summary>${balanceTable}</details>`),
    section('confusion', '6. Genre confusion', `<div class="pair">${confusionCharts(charts).map(use).join('')}</div><details><summary>Per genre: recall and what is predicted instead</summary>${confusionTable}</details>`),
    section('calibration', '7. Calibration', `${use(calibrationChart(charts))}<details><summary>Bins</summary>${calibrationTable}</details>`),
    section('inputs', '8. Inputs', modalitySection),
    section('mistakes', '9. Where it fails', `<p>Per genre, the posters the model was most sure about and got wrong, with their true and predicted genres and the genre's score.</p>${gallery || '<p>No mistakes.</p>'}`),
  ];
  const toc = sections.map((s) => /id="([^"]+)" aria-labelledby="[^"]+"><h2 id="[^"]+">([^<]+)</.exec(s)!).map((m) => `<li><a href="#${m[1]}">${m[2]}</a></li>`).join('');

  const data = JSON.stringify({ charts: options, prCurves }).replace(/</g, '\\u003c');
  // Inline: no request at view time. `</script` cannot occur inside the script element.
  const script = page.script.replace(/<\/script/gi, '<\\/script');
  const heading = `${page.model} on ${page.data} (${page.split}: ${report.rows} posters${page.skipped ? `, ${page.skipped} unreadable skipped` : ''})`;
  const body = [
    '<a class="skip" href="#main">Skip to the report</a>',
    `<header><h1>posterscope report</h1><p class="meta">${escapeHtml(heading)}</p>`,
    `<p class="meta">${genres.length} genres · ${manifest.backbone ? `backbone ${escapeHtml(manifest.backbone.id)}` : 'text only'} · model made ${escapeHtml(manifest.createdAt)} · report made ${escapeHtml(page.createdAt ?? new Date().toISOString())}</p>`,
    `${summary}<nav aria-label="Contents"><ol>${toc}</ol></nav></header>`,
    `<main id="main">${sections.join('\n')}</main>`,
    `<footer>posterscope ${escapeHtml(VERSION)}. Baselines: ${escapeHtml(prior.description)}; ${escapeHtml(random.description)}.</footer>`,
    `<script type="application/json" id="report-data">${data}</script>`,
    `<script>${script}</script>`,
  ].join('\n');
  const csp = reportContentSecurityPolicy(body);
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${csp}">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>posterscope report: ${escapeHtml(page.model)}</title>`,
    `<style>${STYLE}</style></head><body>`,
    body,
    '</body></html>',
    '',
  ].join('\n');
}

/**
 * A one-paragraph page standing in for a report that does not exist or could
 * not be drawn (no script; the same styles).
 *
 * @example
 *   unavailablePage('This model has no report.html.') // -> '<!doctype html>…<p>This model has no report.html.</p>…'
 */
export function unavailablePage(message: string): string {
  return `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>posterscope report</title><style>${STYLE}</style></head><body><header><h1>posterscope report</h1></header><main><p>${escapeHtml(message)}</p></main></body></html>\n`;
}
