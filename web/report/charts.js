// The report's only script: draws the charts whose ECharts options the
// report generator wrote into the page (src/report/charts.ts builds them;
// nothing here computes a number). Bundled with ECharts' SVG renderer into
// dist/web/report.js by `npm run build`, then inlined into each report.html.
import * as echarts from 'echarts/core';
import { BarChart, HeatmapChart, LineChart, ScatterChart } from 'echarts/charts';
import {
  AriaComponent,
  GridComponent,
  LegendComponent,
  MarkAreaComponent,
  MarkLineComponent,
  TitleComponent,
  TooltipComponent,
  VisualMapContinuousComponent,
} from 'echarts/components';
import { SVGRenderer } from 'echarts/renderers';

echarts.use([
  LineChart, BarChart, HeatmapChart, ScatterChart,
  AriaComponent, GridComponent, LegendComponent, MarkAreaComponent, MarkLineComponent, TitleComponent, TooltipComponent, VisualMapContinuousComponent,
  SVGRenderer,
]);

const data = JSON.parse(document.getElementById('report-data').textContent);
const charts = [];
for (const element of document.querySelectorAll('[data-chart]')) {
  const chart = echarts.init(element, null, { renderer: 'svg' });
  chart.setOption(data.charts[element.dataset.chart]);
  charts.push(chart);
}

// The genre picker swaps the precision-recall chart's options for another genre's.
const picker = document.getElementById('pr-genre');
const prElement = document.getElementById('pr-chart');
if (picker && prElement) {
  const prChart = echarts.init(prElement, null, { renderer: 'svg' });
  const show = () => prChart.setOption(data.prCurves[picker.value], { notMerge: true });
  show();
  picker.addEventListener('change', show);
  charts.push(prChart);
}

const resize = () => charts.forEach((chart) => chart.resize());
window.addEventListener('resize', resize);
window.addEventListener('beforeprint', resize);
window.addEventListener('afterprint', resize);
document.documentElement.dataset.charts = String(charts.length);
