import * as fs from 'node:fs';
import * as path from 'node:path';
import type { MarkerKind, NodePhase, RunEvidence, StateKind, SummaryFigure } from './evidence';

/**
 * A run's evidence as ONE self-contained HTML page: the summary and the expectations as plain HTML (readable without
 * JavaScript), then every chart and lane on one shared time axis, drawn on load by a small inline script from the
 * evidence embedded in the page as JSON. The charting library (uPlot) and its stylesheet are inlined from
 * node_modules, and a Content-Security-Policy forbids every fetch, so the page can be attached to a ticket and opened
 * offline years later, and cannot call anywhere even if some text in it were mistaken for markup.
 */

/** Each node phase's colour: the running ones green and blue, the transitions amber and orange, trouble red to black. */
export const PHASE_COLOURS: Readonly<Record<NodePhase, string>> = {
  booting: '#a0cbe8',
  serving: '#2e9d4b',
  standby: '#4e79a7',
  draining: '#f1ce63',
  restarting: '#f28e2b',
  unhealthy: '#e15759',
  dead: '#3b3b3b',
  replaced: '#c7c7c7',
};

/** Each state kind's colour in the execution lanes; tasks, where the work happens, stand out. */
export const STATE_COLOURS: Readonly<Record<StateKind, string>> = {
  task: '#4e79a7',
  wait: '#bab0ac',
  choice: '#edc948',
  pass: '#d4d8dd',
  parallel: '#b07aa1',
  map: '#9c755f',
  succeed: '#59a14f',
  fail: '#e15759',
};

/** States on the rollback or recovery path, whatever their kind: a run that had to undo something shows it at once. */
export const ROLLBACK_COLOUR = '#ff6f00';
/** The retry badge on a state whose task was retried. */
export const RETRY_COLOUR = '#1f2328';

export const MARKER_COLOURS: Readonly<Record<MarkerKind, string>> = {
  fault: '#d62728',
  alarm: '#ff7f0e',
  detected: '#9467bd',
  'weights-written': '#1f77b4',
  'weights-moved': '#17becf',
  redundancy: '#2ca02c',
  note: '#7f7f7f',
};

/** Failed requests are red in every report, apart from every node's colour. */
export const FAILED_COLOUR = '#d62728';
/** Nodes' and slots' lines: distinct from each other and from the failed requests' red. */
const SERIES_COLOURS = ['#1f77b4', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f'];

/**
 * The horizontal layout every chart and lane shares, in CSS pixels: the time axis starts after the y axis (its ticks
 * and its label) and stops short of the right edge, so that a second on a uPlot chart sits exactly above the same
 * second in the lanes. uPlot places its plot at the y axis' size plus its label's size.
 */
const LAYOUT = { yAxisSize: 46, yAxisLabelSize: 22, rightPadding: 24 } as const;

/** Why every fetch is forbidden: the report is a document, not an application; nothing it shows comes from elsewhere. */
const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

export function renderHtmlReport(evidence: RunEvidence): string {
  const library = uplotFiles();
  const hasTraffic = evidence.traffic !== undefined;
  const hasWeights = evidence.weights.length > 0;
  const title = escapeHtml(evidence.title);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(CONTENT_SECURITY_POLICY)}">
<meta name="generator" content="zerodown">
<title>${title} · zerodown report</title>
<style>${library.css}</style>
<style>${REPORT_CSS}</style>
</head>
<body>
<header>
<h1 id="title">${title}</h1>
<p class="subtitle">${escapeHtml(evidence.subtitle)}</p>
<p class="generated">Evidence gathered <time datetime="${escapeHtml(evidence.generatedAt)}">${escapeHtml(evidence.generatedAt)}</time></p>
</header>
<main>
<section id="summary">
<h2>Summary</h2>
${summaryHtml(evidence.summary)}
</section>
<section id="expectations">
<h2>Expectations</h2>
${expectationsHtml(evidence)}
</section>
<section id="timeline">
<h2>Timeline</h2>
<p class="axis-note">Every chart and lane below shares one time axis, from ${formatNumber(evidence.span.from)} to ${formatNumber(evidence.span.to)} ${escapeHtml(evidence.timeUnit)}.</p>
${legendHtml('Markers', 'marker-legend', markerLegendItems())}
<section id="traffic">
<h3>Requests per second by node</h3>
${
  hasTraffic
    ? '<div class="chart" id="traffic-chart" data-chart="traffic" role="img" aria-label="Requests per second by node, and failed requests"></div>'
    : '<p class="note" id="traffic-note">No per-request traffic was recorded for this run (an execution on AWS has none): the weights, lanes and markers below tell its story.</p>'
}
</section>
<section id="weights">
<h3>Listener weights by slot</h3>
${
  hasWeights
    ? '<div class="chart" id="weights-chart" data-chart="weights" role="img" aria-label="Listener weights by slot"></div>'
    : '<p class="note" id="weights-note">No listener weights were recorded for this run.</p>'
}
</section>
<section id="nodes">
<h3>Nodes</h3>
${legendHtml('Node phases', 'phase-legend', phaseLegendItems())}
<div class="chart lanes" id="node-lanes" data-chart="nodes" role="img" aria-label="Each node's phases over time"></div>
</section>
<section id="executions">
<h3>Executions</h3>
${legendHtml('States', 'state-legend', stateLegendItems())}
<div class="chart lanes" id="execution-lanes" data-chart="executions" role="img" aria-label="Each execution's states over time"></div>
</section>
</section>
</main>
<noscript><p class="note">The charts and lanes are drawn by the page's own script; the summary and expectations above are complete without it.</p></noscript>
<script type="application/json" id="evidence">${jsonForScriptElement(evidence)}</script>
<script type="application/json" id="report-style">${jsonForScriptElement(reportStyle())}</script>
<script>${library.js}</script>
<script>${DRAW_SCRIPT}</script>
</body>
</html>
`;
}

/** uPlot's minified build and stylesheet, read from the installed package so the page never fetches them. */
function uplotFiles(): { js: string; css: string } {
  const jsFile = require.resolve('uplot/dist/uPlot.iife.min.js');
  const js = fs.readFileSync(jsFile, 'utf8');
  const css = fs.readFileSync(path.join(path.dirname(jsFile), 'uPlot.min.css'), 'utf8');
  // Inlined code cannot be escaped the way data can: if a release ever held a closing tag, the page would break
  // silently, so it is refused loudly instead.
  if (/<\/script|<!--/i.test(js)) throw new Error('zerodown: uPlot.iife.min.js holds "</script" or "<!--"');
  if (/<\/style/i.test(css)) throw new Error('zerodown: uPlot.min.css holds "</style"');
  return { js, css };
}

/**
 * JSON that cannot end its script element early: `</` becomes `<\/` (so no `</script>` closes it) and `<!--` becomes
 * `<\u0021--` (so the HTML parser never enters the script's escaped states). Both are still the same JSON.
 */
export function jsonForScriptElement(value: unknown): string {
  return JSON.stringify(value).replace(/<\//g, '<\\/').replace(/<!--/g, '<\\u0021--');
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => HTML_ESCAPES[character] ?? character);
}

const HTML_ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

function formatNumber(value: number): string {
  return escapeHtml(String(Math.round(value * 10) / 10));
}

function summaryHtml(figures: readonly SummaryFigure[]): string {
  if (figures.length === 0) return '<p class="note">No summary figures.</p>';
  const items = figures.map((figure) => {
    const verdict = figure.ok === undefined ? '' : figure.ok ? 'ok' : 'not-ok';
    // A sign beside the colour, for a printout in black and white and for readers who do not tell red from green.
    const sign = figure.ok === undefined ? '' : `<span class="sign">${figure.ok ? '✓' : '✗'}</span> `;
    return `<div class="figure ${verdict}"><dt>${escapeHtml(figure.label)}</dt><dd>${sign}${escapeHtml(figure.value)}</dd></div>`;
  });
  return `<dl class="figures">${items.join('')}</dl>`;
}

function expectationsHtml(evidence: RunEvidence): string {
  const expectations = evidence.expectations ?? [];
  if (expectations.length === 0) return '<p class="note">This run had no expectations.</p>';
  const rows = expectations.map(
    (expectation) =>
      `<tr class="${expectation.holds ? 'met' : 'not-met'}"><td>${escapeHtml(expectation.what)}</td>` +
      `<td>${escapeHtml(expectation.expected)}</td><td>${escapeHtml(expectation.actual)}</td>` +
      `<td class="verdict">${expectation.holds ? '✓ met' : '✗ not met'}</td></tr>`,
  );
  const met = expectations.filter((expectation) => expectation.holds).length;
  return (
    `<p class="tally">${met} of ${expectations.length} met.</p>` +
    '<table class="expectations"><thead><tr><th>what</th><th>expected</th><th>actual</th><th>result</th></tr></thead>' +
    `<tbody>${rows.join('')}</tbody></table>`
  );
}

interface LegendItem {
  readonly label: string;
  readonly colour: string;
  readonly shape: 'box' | 'line' | 'badge';
}

function legendHtml(name: string, id: string, items: readonly LegendItem[]): string {
  const entries = items.map(
    (item) =>
      `<li><span class="swatch ${item.shape}" style="--colour:${escapeHtml(item.colour)}"></span>${escapeHtml(item.label)}</li>`,
  );
  return `<ul class="legend" id="${id}" aria-label="${escapeHtml(name)}">${entries.join('')}</ul>`;
}

function markerLegendItems(): LegendItem[] {
  return Object.entries(MARKER_COLOURS).map(([kind, colour]) => ({ label: kind, colour, shape: 'line' }));
}

function phaseLegendItems(): LegendItem[] {
  return Object.entries(PHASE_COLOURS).map(([phase, colour]) => ({ label: phase, colour, shape: 'box' }));
}

function stateLegendItems(): LegendItem[] {
  return [
    ...Object.entries(STATE_COLOURS).map(([kind, colour]): LegendItem => ({ label: kind, colour, shape: 'box' })),
    { label: 'rollback or recovery path', colour: ROLLBACK_COLOUR, shape: 'box' },
    { label: 'retried (times)', colour: RETRY_COLOUR, shape: 'badge' },
  ];
}

/** What the drawing script needs besides the evidence: one source for the colours the legends show. */
function reportStyle(): unknown {
  return {
    layout: LAYOUT,
    phaseColours: PHASE_COLOURS,
    stateColours: STATE_COLOURS,
    rollbackColour: ROLLBACK_COLOUR,
    retryColour: RETRY_COLOUR,
    markerColours: MARKER_COLOURS,
    failedColour: FAILED_COLOUR,
    seriesColours: SERIES_COLOURS,
  };
}

const REPORT_CSS = `
:root { color-scheme: light; --ok: #1a7f37; --bad: #cf222e; --muted: #57606a; --line: #d0d7de; }
* { box-sizing: border-box; }
body { margin: 0; padding: 16px 24px 32px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; overflow-wrap: anywhere; }
h2 { font-size: 17px; margin: 24px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 20px 0 6px; }
.subtitle { margin: 0; color: #424a53; overflow-wrap: anywhere; }
.generated, .axis-note, .tally { margin: 4px 0; color: var(--muted); font-size: 12px; }
.figures { display: flex; flex-wrap: wrap; gap: 8px; margin: 0; }
.figure { border: 1px solid var(--line); border-left: 5px solid var(--line); border-radius: 4px; padding: 6px 12px; min-width: 150px; }
.figure.ok { border-left-color: var(--ok); }
.figure.ok .sign { color: var(--ok); }
.figure.not-ok { border-left-color: var(--bad); background: #fff5f5; }
.figure.not-ok .sign { color: var(--bad); }
.figure dt { font-size: 12px; color: var(--muted); }
.figure dd { margin: 0; font-size: 18px; font-weight: 600; overflow-wrap: anywhere; }
table.expectations { border-collapse: collapse; width: 100%; font-size: 13px; }
table.expectations th, table.expectations td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; overflow-wrap: anywhere; }
tr.met .verdict { color: var(--ok); font-weight: 600; }
tr.not-met { background: #fff5f5; }
tr.not-met .verdict { color: var(--bad); font-weight: 600; }
.legend { display: flex; flex-wrap: wrap; gap: 2px 16px; list-style: none; margin: 4px 0 8px; padding: 0; font-size: 12px; color: #424a53; }
.swatch { display: inline-block; width: 12px; height: 12px; margin-right: 5px; vertical-align: -2px; border-radius: 2px; background: var(--colour); }
.swatch.line { width: 16px; height: 0; border-top: 2px dashed var(--colour); background: none; vertical-align: 3px; border-radius: 0; }
.swatch.badge { border-radius: 50%; }
.chart { width: 100%; min-height: 40px; }
.chart .uplot { margin: 0; }
.note { color: var(--muted); font-style: italic; }
.lanes svg { display: block; overflow: visible; }
.lanes svg { font-size: 12px; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
.lanes .lane-label, .lanes .marker-label { paint-order: stroke; stroke: #ffffff; stroke-width: 4px; stroke-linejoin: round; }
`;

/**
 * The drawing script: plain ES2019, no module, no network. It reads the evidence and the style from their JSON
 * elements, draws the traffic and weights with uPlot and the lanes as SVG, all against the same time axis, marks
 * each container `data-drawn="true"` with `data-series` (the data points or bars drawn) once drawn, and redraws at
 * the new width when the window is resized. Every text from the evidence goes in through `textContent`, never as
 * markup. It holds no backslash and no `${`, so the template literal passes it on exactly as written.
 */
const DRAW_SCRIPT = `
(function () {
  'use strict';
  var evidence = JSON.parse(document.getElementById('evidence').textContent);
  var style = JSON.parse(document.getElementById('report-style').textContent);
  var layout = style.layout;
  var SVG = 'http://www.w3.org/2000/svg';
  var from = evidence.span.from;
  var to = evidence.span.to > from ? evidence.span.to : from + 1;
  var axisLabel = 'time (' + evidence.timeUnit + ')';
  var markers = evidence.markers.slice().sort(function (a, b) { return a.at - b.at; });
  var nodeLabels = {};
  evidence.nodes.forEach(function (node) { nodeLabels[node.id] = node.label; });
  // The same tick steps on every axis, so a chart and a lane show the same seconds.
  var TICK_STEPS = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400];
  var TICK_SPACE = 64;
  // Marker labels closer than this go on different rows, so two labels never read as one.
  var LABEL_GAP = 8;
  var LABEL_ROW = 14;
  // The traffic chart's height, its marker labels' band included.
  var TRAFFIC_HEIGHT = 340;
  // The lanes' font (see the stylesheet), so that a text measured to fit a bar is the text drawn in it.
  var SMALL_FONT = '11px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
  var charts = {};
  var redraws = [];
  window.zerodownReport = { evidence: evidence, charts: charts };

  function plotLeft() { return layout.yAxisSize + layout.yAxisLabelSize; }
  function widthOf(container) { return Math.max(360, container.clientWidth); }
  function plotRight(width) { return width - layout.rightPadding; }
  function xToPx(t, width) {
    return plotLeft() + ((t - from) / (to - from)) * (plotRight(width) - plotLeft());
  }
  function markDrawn(container, points) {
    container.setAttribute('data-series', String(points));
    container.setAttribute('data-drawn', 'true');
  }
  function formatSeconds(value) { return String(Math.round(value * 100) / 100); }

  var measureContext = document.createElement('canvas').getContext('2d');
  function textWidth(text, font) {
    measureContext.font = font;
    return measureContext.measureText(text).width;
  }
  /** Places [start, end] in the first row where it overlaps nothing, so labels that are close never cover each other. */
  function rowFor(rows, start, end, maxRows) {
    for (var row = 0; row < maxRows; row++) {
      if (!rows[row]) rows[row] = [];
      var free = rows[row].every(function (taken) { return end <= taken[0] || start >= taken[1]; });
      if (free) { rows[row].push([start, end]); return row; }
    }
    rows[maxRows - 1].push([start, end]);
    return maxRows - 1;
  }
  /** A dark or light text that reads on a fill. */
  function textColourOn(hex) {
    var value = parseInt(hex.slice(1), 16);
    var luminance = 0.299 * ((value >> 16) & 255) + 0.587 * ((value >> 8) & 255) + 0.114 * (value & 255);
    return luminance > 150 ? '#1f2328' : '#ffffff';
  }
  function withAlpha(hex, alpha) {
    var value = parseInt(hex.slice(1), 16);
    return 'rgba(' + ((value >> 16) & 255) + ', ' + ((value >> 8) & 255) + ', ' + (value & 255) + ', ' + alpha + ')';
  }
  function ticks(width) {
    var span = to - from;
    var usable = plotRight(width) - plotLeft();
    var step = TICK_STEPS[TICK_STEPS.length - 1];
    for (var i = 0; i < TICK_STEPS.length; i++) {
      if ((span / TICK_STEPS[i]) * TICK_SPACE <= usable) { step = TICK_STEPS[i]; break; }
    }
    var values = [];
    for (var t = Math.ceil(from / step) * step; t <= to + 1e-9; t += step) values.push(Math.round(t * 1000) / 1000);
    return values;
  }

  // ---- uPlot charts ----

  /**
   * Where each marker's label goes at a width, in CSS pixels: beside its line (left of it near the right edge), on
   * the first row where it covers no other label. The charts and the lanes place them the same way.
   */
  function placeMarkerLabels(width) {
    var rows = [];
    var labels = markers.map(function (marker) {
      var x = xToPx(marker.at, width);
      var labelWidth = textWidth(marker.label, SMALL_FONT) + 4;
      var leftward = x + 3 + labelWidth > width;
      var start = leftward ? x - 3 - labelWidth : x + 3;
      var row = rowFor(rows, start - LABEL_GAP, start + labelWidth + LABEL_GAP, 8);
      return { marker: marker, leftward: leftward, row: row };
    });
    return { labels: labels, height: rows.length ? rows.length * LABEL_ROW + 4 : 0 };
  }

  /**
   * Draws the markers as dashed vertical lines on a uPlot chart; with labels where no chart above carries them, in
   * a band above the plot that the chart's top padding keeps free, so no label covers a line of data.
   */
  function markerPlugin(container, withLabels) {
    return {
      opts: function (u, options) {
        if (withLabels) {
          // Called before the chart knows its width, too; the container's then stands in.
          options.padding[0] = function (self) { return placeMarkerLabels(self.width || widthOf(container)).height + 6; };
        }
        return options;
      },
      hooks: {
        draw: [
          function (u) {
            var ctx = u.ctx;
            var ratio = uPlot.pxRatio;
            var plotTop = u.bbox.top;
            var bottom = u.bbox.top + u.bbox.height;
            var placed = withLabels ? placeMarkerLabels(u.width) : { labels: [], height: 0 };
            var bandTop = plotTop - (placed.height + 4) * ratio;
            ctx.save();
            ctx.font = SMALL_FONT.replace('11px', 11 * ratio + 'px');
            ctx.textBaseline = 'top';
            markers.forEach(function (marker, index) {
              var colour = style.markerColours[marker.kind] || style.markerColours.note;
              var x = Math.round(u.valToPos(marker.at, 'x', true));
              var label = placed.labels[index];
              // A labelled line starts at its label, so the two read as one.
              var lineTop = label ? bandTop + label.row * LABEL_ROW * ratio : plotTop;
              ctx.strokeStyle = colour;
              ctx.lineWidth = 1.5 * ratio;
              ctx.setLineDash([5 * ratio, 3 * ratio]);
              ctx.beginPath();
              ctx.moveTo(x, lineTop);
              ctx.lineTo(x, bottom);
              ctx.stroke();
              if (!label) return;
              ctx.fillStyle = colour;
              ctx.textAlign = label.leftward ? 'right' : 'left';
              ctx.fillText(marker.label, label.leftward ? x - 3 * ratio : x + 3 * ratio, lineTop + 1.5 * ratio);
            });
            ctx.restore();
          },
        ],
      },
    };
  }

  function drawnPlugin(container, points) {
    return { hooks: { draw: [function () { markDrawn(container, points); }] } };
  }

  function xAxis() {
    return { label: axisLabel, labelSize: 24, space: TICK_SPACE, incrs: TICK_STEPS, values: function (u, values) { return values.map(formatSeconds); } };
  }
  function yAxis(label) {
    return { label: label, size: layout.yAxisSize, labelSize: layout.yAxisLabelSize };
  }

  function chartOptions(container, height, yLabel, series, yMax, plugins) {
    return {
      width: widthOf(container),
      height: height,
      // Left padding 0 and a fixed y axis put the plot where the lanes put theirs.
      padding: [8, layout.rightPadding, 0, 0],
      scales: {
        x: { time: false, auto: false, range: function () { return [from, to]; } },
        y: { range: function (u, min, max) { return [0, Math.max(1, max) * yMax]; } },
      },
      axes: [xAxis(), yAxis(yLabel)],
      series: [{ label: axisLabel, value: function (u, v) { return v == null ? '-' : formatSeconds(v); } }].concat(series),
      // One cursor across the charts; no drag-zoom, since every chart must keep the run's whole span.
      cursor: { sync: { key: 'zerodown-run' }, drag: { x: false, y: false, setScale: false } },
      legend: { live: true },
      plugins: plugins,
    };
  }

  /** A bucketed series as steps: bucket t covers [t, next), so the last bucket gets a closing point one second on. */
  function closeSteps(xs, ys, end) {
    return { xs: xs.concat([end]), ys: ys.concat([ys.length ? ys[ys.length - 1] : null]) };
  }

  function drawTraffic() {
    var container = document.getElementById('traffic-chart');
    if (!container || !evidence.traffic) return;
    var traffic = evidence.traffic;
    var at = traffic.at.slice();
    var end = at.length ? at[at.length - 1] + 1 : to;
    var stepped = uPlot.paths.stepped({ align: 1 });
    var nodeIds = Object.keys(traffic.byNode);
    var data = [closeSteps(at, [], end).xs];
    var series = [];
    var points = 0;
    nodeIds.forEach(function (id, index) {
      data.push(closeSteps(at, traffic.byNode[id].slice(), end).ys);
      points += traffic.byNode[id].length;
      series.push({ label: nodeLabels[id] || id, stroke: style.seriesColours[index % style.seriesColours.length], width: 2, paths: stepped });
    });
    data.push(closeSteps(at, traffic.failed.slice(), end).ys);
    points += traffic.failed.length;
    series.push({ label: 'failed requests', stroke: style.failedColour, fill: withAlpha(style.failedColour, 0.22), width: 2.5, paths: stepped });
    var options = chartOptions(container, TRAFFIC_HEIGHT, 'requests / s', series, 1.1, [markerPlugin(container, true), drawnPlugin(container, points)]);
    charts.traffic = new uPlot(options, data, container);
    redraws.push(function () { charts.traffic.setSize({ width: widthOf(container), height: TRAFFIC_HEIGHT }); });
  }

  function drawWeights() {
    var container = document.getElementById('weights-chart');
    if (!container || evidence.weights.length === 0) return;
    var slots = [];
    evidence.weights.forEach(function (change) {
      Object.keys(change.weights).forEach(function (slot) { if (slots.indexOf(slot) < 0) slots.push(slot); });
    });
    // The first weights hold from the start of the span; the last until its end.
    var xs = evidence.weights.map(function (change, index) { return index === 0 ? Math.min(change.at, from) : change.at; });
    var data = [xs.concat([Math.max(to, xs[xs.length - 1])])];
    var stepped = uPlot.paths.stepped({ align: 1 });
    var series = slots.map(function (slot, index) {
      var ys = evidence.weights.map(function (change) { return change.weights[slot] === undefined ? 0 : change.weights[slot]; });
      data.push(ys.concat([ys[ys.length - 1]]));
      // No dots: a weight holds between changes, and a dot at the span's end would look like a change.
      return { label: 'slot ' + slot, stroke: style.seriesColours[index % style.seriesColours.length], width: 2, paths: stepped, points: { show: false } };
    });
    var points = slots.length * evidence.weights.length;
    // Without a traffic chart the marker labels are drawn here, in a band that takes some of the chart's height.
    var withLabels = !evidence.traffic;
    var height = withLabels ? 260 : 200;
    var options = chartOptions(container, height, 'weight', series, 1.1, [markerPlugin(container, withLabels), drawnPlugin(container, points)]);
    charts.weights = new uPlot(options, data, container);
    redraws.push(function () { charts.weights.setSize({ width: widthOf(container), height: height }); });
  }

  // ---- SVG lanes ----

  function svg(name, attributes, parent) {
    var element = document.createElementNS(SVG, name);
    Object.keys(attributes).forEach(function (key) { element.setAttribute(key, String(attributes[key])); });
    if (parent) parent.appendChild(element);
    return element;
  }
  function text(content, attributes, parent) {
    var element = svg('text', attributes, parent);
    element.textContent = content;
    return element;
  }
  function tooltip(content, parent) {
    var element = svg('title', {}, parent);
    element.textContent = content;
    return element;
  }
  /** The longest start of a text that fits a width, with an ellipsis; empty when not even a few letters fit. */
  function fitText(content, width, font) {
    if (textWidth(content, font) <= width) return content;
    if (width < 36) return '';
    var end = content.length;
    while (end > 3 && textWidth(content.slice(0, end) + '…', font) > width) end--;
    return end > 3 ? content.slice(0, end) + '…' : '';
  }
  function span(a, b) { return formatSeconds(a) + '–' + formatSeconds(b) + ' s'; }

  /** The marker labels over the node lanes, staggered into rows; returns where each row starts and their height. */
  function markerLabels(group, width) {
    var placed = placeMarkerLabels(width);
    placed.labels.forEach(function (placement) {
      var marker = placement.marker;
      var x = xToPx(marker.at, width);
      var label = text(marker.label, {
        x: placement.leftward ? x - 3 : x + 3, y: 11 + placement.row * LABEL_ROW,
        'text-anchor': placement.leftward ? 'end' : 'start',
        fill: style.markerColours[marker.kind] || style.markerColours.note, 'font-size': 11, class: 'marker-label',
      }, group);
      tooltip(marker.kind + ' at ' + formatSeconds(marker.at) + ' s: ' + marker.label, label);
    });
    return {
      tops: placed.labels.map(function (placement) { return placement.row * LABEL_ROW; }),
      height: placed.height,
    };
  }

  /** A dashed line per marker, from its label when it has one (tops, by marker) or from the top. */
  function markerLines(group, width, tops, bottom) {
    markers.forEach(function (marker, index) {
      var x = xToPx(marker.at, width);
      var line = svg('line', {
        x1: x, x2: x, y1: tops ? tops[index] : 0, y2: bottom, stroke: style.markerColours[marker.kind] || style.markerColours.note,
        'stroke-width': 1.5, 'stroke-dasharray': '5 3', class: 'marker-line', 'data-kind': marker.kind,
      }, group);
      tooltip(marker.kind + ' at ' + formatSeconds(marker.at) + ' s: ' + marker.label, line);
    });
  }

  /** Marker lines cross the bars, but labels stay readable above them: SVG paints later elements on top. */
  function raiseLabels(root) {
    var labels = svg('g', { class: 'labels' }, root);
    Array.prototype.slice.call(root.querySelectorAll('.lane-label, .marker-labels')).forEach(function (element) {
      labels.appendChild(element);
    });
  }

  function timeAxis(group, width, top, bottom) {
    var values = ticks(width);
    values.forEach(function (t) {
      var x = xToPx(t, width);
      svg('line', { x1: x, x2: x, y1: top, y2: bottom, stroke: '#eaeef2' }, group);
      svg('line', { x1: x, x2: x, y1: bottom, y2: bottom + 4, stroke: '#57606a' }, group);
      text(formatSeconds(t), { x: x, y: bottom + 16, 'text-anchor': 'middle', fill: '#57606a' }, group);
    });
    svg('line', { x1: plotLeft(), x2: plotRight(width), y1: bottom, y2: bottom, stroke: '#57606a' }, group);
    text(axisLabel, { x: plotRight(width), y: bottom + 32, 'text-anchor': 'end', fill: '#57606a' }, group);
    return 36;
  }

  function newLanesSvg(container, width) {
    container.textContent = '';
    var root = svg('svg', {
      width: width, xmlns: SVG, 'data-plot-left': plotLeft(), 'data-plot-right': plotRight(width),
    }, container);
    return root;
  }

  function drawNodeLanes() {
    var container = document.getElementById('node-lanes');
    var width = widthOf(container);
    var root = newLanesSvg(container, width);
    if (evidence.nodes.length === 0) {
      text('No node was recorded.', { x: plotLeft(), y: 16, fill: '#57606a' }, root);
      root.setAttribute('height', 24);
      return markDrawn(container, 0);
    }
    var labels = markerLabels(svg('g', { class: 'marker-labels' }, root), width);
    var top = labels.height;
    var ROW = 42;
    var bars = 0;
    evidence.nodes.forEach(function (node, index) {
      var y = top + index * ROW;
      var lane = svg('g', { class: 'lane', 'data-lane': 'node', 'data-id': node.id }, root);
      text(node.label, { x: plotLeft(), y: y + 13, fill: '#1f2328', 'font-weight': 600, class: 'lane-label' }, lane);
      svg('rect', { x: plotLeft(), y: y + 18, width: plotRight(width) - plotLeft(), height: 18, fill: '#f6f8fa' }, lane);
      node.phases.forEach(function (phase) {
        var x1 = xToPx(Math.max(phase.from, from), width);
        var x2 = xToPx(Math.min(phase.to, to), width);
        var colour = style.phaseColours[phase.phase] || '#999999';
        var bar = svg('g', { class: 'phase', 'data-phase': phase.phase }, lane);
        svg('rect', { x: x1, y: y + 18, width: Math.max(1.5, x2 - x1), height: 18, fill: colour }, bar);
        var label = fitText(phase.phase, x2 - x1 - 6, SMALL_FONT);
        if (label) text(label, { x: x1 + 3, y: y + 31, fill: textColourOn(colour), 'font-size': 11 }, bar);
        tooltip(node.label + ': ' + phase.phase + ', ' + span(phase.from, phase.to), bar);
        bars++;
      });
    });
    var bottom = top + evidence.nodes.length * ROW;
    var axis = svg('g', { class: 'axis' }, root);
    var height = bottom + timeAxis(axis, width, 0, bottom);
    root.insertBefore(axis, root.firstChild);
    markerLines(svg('g', { class: 'markers' }, root), width, labels.tops, bottom);
    raiseLabels(root);
    root.setAttribute('height', height);
    markDrawn(container, bars);
  }

  /** States that overlap in time (branches of a parallel or map state) go on rows of their own within the lane. */
  function subRows(states) {
    var rowEnds = [];
    return states.map(function (state) {
      for (var row = 0; row < rowEnds.length; row++) {
        if (state.from >= rowEnds[row] - 1e-9) { rowEnds[row] = Math.max(rowEnds[row], state.to); return row; }
      }
      rowEnds.push(state.to);
      return rowEnds.length - 1;
    });
  }

  function statusColour(status) {
    if (status === 'SUCCEEDED') return '#1a7f37';
    if (status === 'RUNNING') return '#0969da';
    return '#cf222e';
  }

  function drawExecutionLanes() {
    var container = document.getElementById('execution-lanes');
    var width = widthOf(container);
    var root = newLanesSvg(container, width);
    if (evidence.executions.length === 0) {
      text('No workflow ran.', { x: plotLeft(), y: 16, fill: '#57606a' }, root);
      root.setAttribute('height', 24);
      return markDrawn(container, 0);
    }
    var y = 0;
    var bars = 0;
    var BAR = 18;
    var lanes = svg('g', { class: 'lanes' }, root);
    evidence.executions.forEach(function (execution) {
      var lane = svg('g', { class: 'lane', 'data-lane': 'execution', 'data-id': execution.id }, lanes);
      var label = text('', { x: plotLeft(), y: y + 13, fill: '#1f2328', class: 'lane-label' }, lane);
      var name = svg('tspan', { 'font-weight': 600 }, label);
      name.textContent = execution.workflow;
      svg('tspan', {}, label).textContent = ' · ' + execution.trigger + ' · ';
      var status = svg('tspan', { fill: statusColour(execution.status), 'font-weight': 600 }, label);
      status.textContent = execution.status;
      var sorted = execution.states.slice().sort(function (a, b) { return a.from - b.from; });
      var rows = subRows(sorted);
      var rowCount = Math.max(1, rows.reduce(function (most, row) { return Math.max(most, row + 1); }, 0));
      svg('rect', { x: plotLeft(), y: y + 18, width: plotRight(width) - plotLeft(), height: rowCount * (BAR + 2), fill: '#f6f8fa' }, lane);
      sorted.forEach(function (state, index) {
        var x1 = xToPx(Math.max(state.from, from), width);
        var x2 = xToPx(Math.min(state.to, to), width);
        var barWidth = Math.max(2, x2 - x1);
        var top = y + 18 + rows[index] * (BAR + 2);
        var colour = state.rollback ? style.rollbackColour : style.stateColours[state.kind] || '#999999';
        var bar = svg('g', {
          class: 'state' + (state.rollback ? ' rollback' : '') + (state.retries > 0 ? ' retried' : ''),
          'data-kind': state.kind,
        }, lane);
        svg('rect', {
          x: x1, y: top, width: barWidth, height: BAR, fill: colour, stroke: '#ffffff', 'stroke-width': 0.75,
        }, bar);
        var badge = state.retries > 0 ? 14 : 0;
        var fitted = fitText(state.name, barWidth - 6 - badge, SMALL_FONT);
        if (fitted) text(fitted, { x: x1 + 3, y: top + 13, fill: textColourOn(colour), 'font-size': 11 }, bar);
        if (state.retries > 0) {
          // The badge sits at the bar's end, inside it when it is wide enough, so it never hides the next state.
          var cx = barWidth >= 14 ? x1 + barWidth - 7 : x1 + barWidth / 2;
          svg('circle', { cx: cx, cy: top + BAR / 2, r: 6.5, fill: style.retryColour, stroke: '#ffffff' }, bar);
          text(String(state.retries), { x: cx, y: top + BAR / 2 + 3.5, fill: '#ffffff', 'font-size': 9.5, 'text-anchor': 'middle', 'font-weight': 700 }, bar);
        }
        tooltip(
          state.name + ' (' + state.kind + (state.rollback ? ', rollback path' : '') + '), ' + span(state.from, state.to) +
            (state.retries > 0 ? ', retried ' + state.retries + (state.retries === 1 ? ' time' : ' times') : ''),
          bar,
        );
        bars++;
      });
      y += 18 + rowCount * (BAR + 2) + 12;
    });
    var axis = svg('g', { class: 'axis' }, root);
    var height = y + timeAxis(axis, width, 0, y);
    root.insertBefore(axis, root.firstChild);
    markerLines(svg('g', { class: 'markers' }, root), width, null, y);
    raiseLabels(root);
    root.setAttribute('height', height);
    markDrawn(container, bars);
  }

  /** Draws one part; a part that fails says so in its place and in the console, and the others are still drawn. */
  function guarded(draw, containerId) {
    try {
      draw();
    } catch (error) {
      var container = document.getElementById(containerId);
      if (container) container.textContent = 'This part could not be drawn: ' + error;
      console.error('zerodown report: ' + containerId + ' not drawn', error);
    }
  }

  function drawLanes() {
    guarded(drawNodeLanes, 'node-lanes');
    guarded(drawExecutionLanes, 'execution-lanes');
  }

  guarded(drawTraffic, 'traffic-chart');
  guarded(drawWeights, 'weights-chart');
  drawLanes();

  var pending = false;
  window.addEventListener('resize', function () {
    if (pending) return;
    pending = true;
    requestAnimationFrame(function () {
      pending = false;
      redraws.forEach(function (redraw) { redraw(); });
      drawLanes();
    });
  });
})();
`;
