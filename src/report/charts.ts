/**
 * The report's charts as ECharts options: configuration only, built from the
 * evaluation (eval/curves.ts computed every number) and drawn in the page by
 * web/report/charts.js with ECharts' SVG renderer. Each chart has a caption
 * saying how to read it, and the baselines (label-frequency prior, random
 * scores) appear wherever a number does.
 */
import type { EChartsOption } from 'echarts';
import type { EvaluationCharts, GenreCurve } from '../eval/curves.js';
import type { EvaluationReport } from '../eval/report.js';

/** One modality's row, as the multimodal evaluation reports it (`modalities.image`, `.title`, ...). */
export interface ModalityMetrics {
  microF1: number;
  precision: number;
  recall: number;
  macroF1: number;
  mAP: number;
  baselines?: { prior?: { microF1: number; mAP: number }; random?: { microF1: number; mAP: number } };
}

export interface ChartedEvaluation extends EvaluationReport {
  charts: EvaluationCharts;
  modalities?: Record<string, ModalityMetrics | undefined>;
}

export interface ReportChart {
  /** Element id and key of its options in the page's data. */
  id: string;
  title: string;
  /** One line: how to read it. */
  caption: string;
  /** Drawing height in CSS pixels. */
  height: number;
  option: EChartsOption;
}

const COLORS = { model: '#c2410c', precision: '#2563eb', recall: '#0f766e', f1: '#c2410c', ap: '#7c3aed', prior: '#1d1d1f', random: '#8a8a90', train: '#2563eb', validation: '#c2410c', test: '#0f766e' };
/** Four decimals are plenty on a chart and keep the file small. */
const r4 = (v: number) => Math.round(v * 1e4) / 1e4;
const f3 = (v: number | null | undefined) => (v === null || v === undefined ? '–' : v.toFixed(3));

const base = (option: EChartsOption): EChartsOption => ({
  animation: false,
  aria: { enabled: true },
  textStyle: { fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif' },
  grid: { left: 8, right: 16, top: 48, bottom: 8, containLabel: true },
  tooltip: { trigger: 'axis' },
  legend: { top: 0, type: 'scroll' },
  ...option,
});

const hline = (name: string, value: number, color: string) => ({
  name,
  yAxis: r4(value),
  lineStyle: { color, type: 'dashed' as const, width: 1.5 },
  label: { formatter: `${name} ${value.toFixed(3)}`, position: 'insideEndTop' as const, color },
});

/** Train and validation loss per epoch, the best epoch marked. */
export function historyLossChart(charts: EvaluationCharts): ReportChart {
  const epochs = charts.history.map((e) => e.epoch);
  return {
    id: 'history-loss',
    title: 'Loss per epoch',
    caption: 'Lines falling together = still learning; validation rising while training falls = overfitting. The dashed line is the epoch kept.',
    height: 300,
    option: base({
      xAxis: { type: 'category', name: 'epoch', nameLocation: 'middle', nameGap: 26, data: epochs },
      yAxis: { type: 'value', name: 'loss', scale: true },
      series: [
        { name: 'train loss', type: 'line', data: charts.history.map((e) => r4(e.trainLoss)), color: COLORS.train },
        {
          name: 'validation loss',
          type: 'line',
          data: charts.history.map((e) => r4(e.validationLoss)),
          color: COLORS.validation,
          ...(charts.bestEpoch ? { markLine: { symbol: 'none', data: [{ xAxis: String(charts.bestEpoch), label: { formatter: `best epoch ${charts.bestEpoch}` }, lineStyle: { type: 'dashed', color: COLORS.prior } }] } } : {}),
        },
      ],
    }),
  };
}

/** Validation micro-F1 and mAP per epoch, beside the prior baseline measured on the report's rows. */
export function historyMetricsChart(charts: EvaluationCharts, report: EvaluationReport): ReportChart {
  const { prior } = report.baselines;
  return {
    id: 'history-metrics',
    title: 'Validation micro-F1 and mAP per epoch',
    caption: 'Higher is better; the dashed lines are the label-frequency prior on the evaluated posters, the score a model must beat.',
    height: 300,
    option: base({
      xAxis: { type: 'category', name: 'epoch', nameLocation: 'middle', nameGap: 26, data: charts.history.map((e) => e.epoch) },
      yAxis: { type: 'value', min: 0, max: 1 },
      series: [
        {
          name: 'validation micro-F1',
          type: 'line',
          data: charts.history.map((e) => r4(e.validationMicroF1)),
          color: COLORS.f1,
          markLine: {
            symbol: 'none',
            data: [
              hline('prior micro-F1', prior.microF1, COLORS.f1),
              ...(charts.bestEpoch ? [{ xAxis: String(charts.bestEpoch), label: { formatter: `best epoch ${charts.bestEpoch}` }, lineStyle: { type: 'dashed' as const, color: COLORS.prior } }] : []),
            ],
          },
        },
        { name: 'validation mAP', type: 'line', data: charts.history.map((e) => r4(e.validationMAP)), color: COLORS.ap, markLine: { symbol: 'none', data: [hline('prior mAP', prior.mAP, COLORS.ap)] } },
      ],
    }),
  };
}

/** Micro precision, recall and F1 against one global threshold, the model's threshold and both baselines marked. */
export function sweepChart(charts: EvaluationCharts, report: EvaluationReport, globalThreshold: number): ReportChart {
  const xy = (key: 'precision' | 'recall' | 'microF1') => charts.sweep.map((p) => [p.threshold, r4(p[key])]);
  const { prior, random } = report.baselines;
  // Per-genre thresholds, when the policy has them, show as the band they span.
  const own = charts.policyThresholds.filter((t) => t !== globalThreshold);
  const band = own.length
    ? { markArea: { silent: true, itemStyle: { color: 'rgba(37, 99, 235, 0.08)' }, label: { formatter: 'per-genre thresholds', position: 'insideTop' as const }, data: [[{ xAxis: r4(Math.min(...own, globalThreshold)) }, { xAxis: r4(Math.max(...own, globalThreshold)) }]] as Array<[{ xAxis: number }, { xAxis: number }]> } }
    : {};
  return {
    id: 'sweep',
    title: 'Threshold sweep',
    caption: 'Moving the threshold right trades recall for precision; pick where F1 (or the precision you need) peaks. Solid: the model\'s threshold (a band: its per-genre ones); dashed: the baselines\' micro-F1.',
    height: 340,
    option: base({
      tooltip: { trigger: 'axis' },
      xAxis: { type: 'value', name: 'threshold', nameLocation: 'middle', nameGap: 26, min: 0, max: 1 },
      yAxis: { type: 'value', min: 0, max: 1 },
      series: [
        { name: 'precision', type: 'line', showSymbol: false, data: xy('precision'), color: COLORS.precision, ...band },
        { name: 'recall', type: 'line', showSymbol: false, data: xy('recall'), color: COLORS.recall },
        {
          name: 'micro-F1',
          type: 'line',
          showSymbol: false,
          data: xy('microF1'),
          color: COLORS.f1,
          lineStyle: { width: 3 },
          markLine: {
            symbol: 'none',
            data: [
              { xAxis: r4(globalThreshold), label: { formatter: `model threshold ${globalThreshold.toFixed(2)}` }, lineStyle: { type: 'solid', color: COLORS.prior } },
              hline('prior micro-F1', prior.microF1, COLORS.prior),
              hline('random micro-F1', random.microF1, COLORS.random),
            ],
          },
        },
      ],
    }),
  };
}

/** One genre's precision-recall curve with AP in its title, the random / prior precision and the model's operating point marked. */
export function precisionRecallChart(curve: GenreCurve, threshold: number): EChartsOption {
  // The operating point: the lowest score group still at or above the genre's threshold.
  const at = [...curve.points].reverse().find((p) => p.threshold >= threshold && p.recall > 0);
  return base({
    title: {
      text: `${curve.genre}: AP ${f3(curve.ap)}`,
      subtext: `prior / random AP ≈ ${f3(curve.prevalence)} · ${curve.support} posters`,
      left: 'center',
      top: 22,
      textStyle: { fontSize: 14 },
    },
    grid: { left: 24, right: 16, top: 84, bottom: 8, containLabel: true },
    tooltip: { trigger: 'item' },
    xAxis: { type: 'value', name: 'recall', nameLocation: 'middle', nameGap: 26, min: 0, max: 1 },
    yAxis: { type: 'value', name: 'precision', nameLocation: 'middle', nameGap: 36, min: 0, max: 1 },
    series: [
      {
        name: 'model',
        type: 'line',
        showSymbol: false,
        data: curve.points.map((p) => [r4(p.recall), r4(p.precision), r4(p.threshold)]),
        color: COLORS.model,
        markLine: { symbol: 'none', data: [hline('prior / random precision', curve.prevalence, COLORS.random)] },
      },
      ...(at ? [{ name: `at threshold ${threshold.toFixed(2)}`, type: 'scatter' as const, symbolSize: 12, data: [[r4(at.recall), r4(at.precision)]], color: COLORS.prior }] : []),
    ],
  });
}

/** Per-genre F1 and AP bars sorted by support, the prior baseline's values as marks on them. */
export function perGenreChart(charts: EvaluationCharts, report: EvaluationReport): ReportChart {
  const order = report.perGenre.map((g, i) => ({ ...g, i })).sort((a, b) => a.support - b.support || b.genre.localeCompare(a.genre));
  const labels = order.map((g) => `${g.genre} (${g.support})`);
  const mark = (name: string, values: Array<number | null>, color: string) => ({
    name,
    type: 'scatter' as const,
    symbol: 'rect',
    symbolSize: [4, 14] as [number, number],
    data: values.map((v) => (v === null ? null : r4(v))),
    color,
    z: 5,
  });
  return {
    id: 'per-genre',
    title: 'Per-genre F1 and AP',
    caption: 'Bars are the model, the black ticks the label-frequency prior on the same genre; a bar not past its tick has learnt nothing for that genre. Support in brackets.',
    height: Math.max(320, 60 + order.length * 30),
    option: base({
      tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
      xAxis: { type: 'value', min: 0, max: 1 },
      yAxis: { type: 'category', data: labels },
      series: [
        { name: 'F1', type: 'bar', data: order.map((g) => r4(g.f1)), color: COLORS.f1 },
        { name: 'AP', type: 'bar', data: order.map((g) => (g.ap === null ? null : r4(g.ap))), color: COLORS.ap },
        mark('prior F1', order.map((g) => charts.genreBaselines[g.i]!.prior.f1), COLORS.prior),
        mark('prior AP', order.map((g) => charts.genreBaselines[g.i]!.prior.ap), '#5b21b6'),
      ],
    }),
  };
}

/** Genre counts per split. */
export function balanceChart(charts: EvaluationCharts, genres: readonly string[]): ReportChart {
  const splits = Object.keys(charts.balance);
  const order = genres.map((g, i) => ({ g, i, n: splits.reduce((s, k) => s + charts.balance[k]![i]!, 0) })).sort((a, b) => a.n - b.n);
  const color = COLORS as Record<string, string>;
  return {
    id: 'balance',
    title: 'Class balance',
    caption: 'Posters per genre in each split (log scale): genres with a few dozen posters are hard to learn and their test numbers are noisy.',
    height: Math.max(320, 60 + order.length * 26),
    option: base({
      tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
      xAxis: { type: 'log', min: 1, logBase: 10 },
      yAxis: { type: 'category', data: order.map((o) => o.g) },
      series: splits.map((split) => ({
        name: split,
        type: 'bar' as const,
        // A log axis cannot show 0: empty genres get no bar.
        data: order.map((o) => charts.balance[split]![o.i]! || null),
        ...(color[split] ? { color: color[split] } : {}),
      })),
    }),
  };
}

function heatmap(id: string, title: string, caption: string, genres: readonly string[], rates: number[][], support: number[]): ReportChart {
  const data: Array<[number, number, number]> = [];
  let offDiagonal = 0;
  // Rows of genres with a handful of posters jump to 0.5 or 1 by chance: they do not set the colour scale.
  const steady = support.some((n) => n >= 10) ? 10 : 1;
  rates.forEach((row, t) =>
    row.forEach((v, g) => {
      if (v > 0) data.push([g, t, r4(v)]);
      if (g !== t && support[t]! >= steady) offDiagonal = Math.max(offDiagonal, v);
    }),
  );
  const scaleMax = Math.max(0.05, Math.ceil(offDiagonal * 20) / 20);
  const rowLabels = genres.map((g, t) => `${g} (${support[t]})`);
  return {
    id,
    title,
    caption,
    height: 560,
    option: base({
      tooltip: { trigger: 'item' },
      grid: { left: 8, right: 16, top: 16, bottom: 60, containLabel: true },
      legend: { show: false },
      xAxis: { type: 'category', data: [...genres], axisLabel: { rotate: 60, fontSize: 10 }, splitArea: { show: true } },
      yAxis: { type: 'category', data: rowLabels, inverse: true, axisLabel: { fontSize: 10 } },
      // The diagonal dwarfs everything else: the scale stops at the largest off-diagonal share of a genre with 10+ posters.
      visualMap: { min: 0, max: scaleMax, text: [`≥ ${scaleMax.toFixed(2)}`, '0'], calculable: false, orient: 'horizontal', left: 'center', bottom: 0, itemHeight: 120, inRange: { color: ['#fff7ed', '#fdba74', '#c2410c', '#7c2d12'] } },
      series: [{ name: title, type: 'heatmap', data }],
    }),
  };
}

/** Which genres the model predicts instead, per true genre, and how often genres are labelled together. */
export function confusionCharts(charts: EvaluationCharts): ReportChart[] {
  const { genres, support, predictedInstead, cooccurrence } = charts.confusion;
  return [
    heatmap(
      'confusion',
      'Predicted instead (rows: true genre)',
      'Row = posters of a genre; a dark cell = the column\'s genre is predicted on them although they do not have it. The diagonal is recall.',
      genres,
      predictedInstead,
      support,
    ),
    heatmap(
      'cooccurrence',
      'Labelled together (rows: true genre)',
      'Row = posters of a genre; a dark cell = they also carry the column\'s genre. Compare with the left: confusion where labels rarely co-occur is a real mistake.',
      genres,
      cooccurrence,
      support,
    ),
  ];
}

/** Reliability diagram: predicted probability against observed frequency per bin, with ECE beside the baselines'. */
export function calibrationChart(charts: EvaluationCharts): ReportChart {
  const { bins, ece, baselines } = charts.calibration;
  const filled = bins.filter((b) => b.count > 0);
  const largest = Math.max(1, ...filled.map((b) => b.count));
  return {
    id: 'calibration',
    title: `Calibration: ECE ${ece.toFixed(3)} (prior ${baselines.prior.toFixed(3)}, random ${baselines.random.toFixed(3)})`,
    caption: 'Points on the diagonal = a score of 0.3 comes true 30% of the time; below it the model is over-confident. Point size = (poster, genre) pairs in the bin.',
    height: 360,
    option: base({
      tooltip: { trigger: 'item' },
      grid: { left: 28, right: 16, top: 48, bottom: 8, containLabel: true },
      xAxis: { type: 'value', name: 'mean predicted probability', nameLocation: 'middle', nameGap: 26, min: 0, max: 1 },
      yAxis: { type: 'value', name: 'observed frequency', nameLocation: 'middle', nameGap: 36, min: 0, max: 1 },
      series: [
        { name: 'perfectly calibrated', type: 'line', showSymbol: false, data: [[0, 0], [1, 1]], lineStyle: { type: 'dashed' }, color: COLORS.random },
        {
          name: 'model',
          type: 'line',
          data: filled.map((b) => [r4(b.meanScore), r4(b.positiveRate), b.count]),
          symbolSize: 8,
          color: COLORS.model,
        },
        {
          name: 'pairs in bin',
          type: 'scatter',
          // Sizes are data, not a callback: the options travel as JSON.
          data: filled.map((b) => ({ value: [r4(b.meanScore), r4(b.positiveRate), b.count], symbolSize: Math.round(6 + 24 * Math.sqrt(b.count / largest)) })),
          color: 'rgba(194, 65, 12, 0.35)',
        },
      ],
    }),
  };
}

/** The modality comparison, when the evaluation has one: micro-F1 and mAP per input with the prior's values. */
export function modalityChart(modalities: Record<string, ModalityMetrics | undefined>): ReportChart | undefined {
  const names = Object.keys(modalities).filter((k) => modalities[k]);
  if (names.length === 0) return undefined;
  const rows = names.map((n) => modalities[n]!);
  return {
    id: 'modalities',
    title: 'By input',
    caption: 'Each input alone and combined, on the same posters; the black ticks are the label-frequency prior.',
    height: Math.max(260, 80 + names.length * 44),
    option: base({
      tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
      xAxis: { type: 'value', min: 0, max: 1 },
      yAxis: { type: 'category', data: names, inverse: true },
      series: [
        { name: 'micro-F1', type: 'bar', data: rows.map((m) => r4(m.microF1)), color: COLORS.f1 },
        { name: 'mAP', type: 'bar', data: rows.map((m) => r4(m.mAP)), color: COLORS.ap },
        { name: 'prior micro-F1', type: 'scatter', symbol: 'rect', symbolSize: [4, 14], data: rows.map((m) => (m.baselines?.prior ? r4(m.baselines.prior.microF1) : null)), color: COLORS.prior, z: 5 },
        { name: 'prior mAP', type: 'scatter', symbol: 'rect', symbolSize: [4, 14], data: rows.map((m) => (m.baselines?.prior ? r4(m.baselines.prior.mAP) : null)), color: '#5b21b6', z: 5 },
      ],
    }),
  };
}
