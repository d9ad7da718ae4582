/* Charts logged with eventlog.plot.* (spec/format.md 7, `_type: "chart"`), drawn from their table
   file: line, scatter, pr_curve and roc_curve as uPlot lines (or points) per `stroke` value, bar and
   histogram as uPlot bars, confusion_matrix as a grid of counts, custom charts as their table.
   EV.drawChart(view, item, table) fills `view` and sets data-kind, data-series and data-cells. */
"use strict";
(function () {
  const EV = window.EV;
  const WIDTH = 520, HEIGHT = 260, MAX_BINS = 30;

  const num = (v) => (typeof v === "number" && isFinite(v) ? v : null);
  const text = (v) => (v === null || v === undefined ? "" : typeof v === "string" ? v : EV.fmtValue(v));

  /* [{label, pts: [[x, y]...]}] per value of column `s` (one series without it), in first-seen order */
  function groups(t, x, y, s) {
    const cols = t.columns || [];
    const xi = cols.indexOf(x), yi = cols.indexOf(y), si = s ? cols.indexOf(s) : -1;
    const byName = new Map();
    (t.data || []).forEach(function (r) {
      const px = num(r[xi]), py = num(r[yi]);
      if (px === null || py === null) return;
      const name = si >= 0 ? text(r[si]) : y;
      if (!byName.has(name)) byName.set(name, []);
      byName.get(name).push([px, py]);
    });
    return Array.from(byName, ([label, pts]) => ({ label: label, pts: pts }));
  }

  /* uPlot data of several series over one sorted x array (x values may repeat: a ROC curve's
     vertical steps); each series is null where another one has the point, its gaps spanned */
  function aligned(series) {
    const all = [];
    series.forEach((g, si) => g.pts.forEach((p, k) => all.push([p[0], si, k, p[1]])));
    all.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]);
    const data = [all.map((a) => a[0])];
    series.forEach(function (g, si) { data.push(all.map((a) => (a[1] === si ? a[3] : null))); });
    return data;
  }

  function plot(view, opts, data) {
    const box = EV.el("div", { className: "media-chart-plot" });
    view.appendChild(box);
    const width = Math.max(260, Math.min(WIDTH, (view.parentNode && view.parentNode.clientWidth) || WIDTH) - 8);
    view._plot = new uPlot(Object.assign({ width: width, height: HEIGHT, legend: { live: false } }, opts), data, box);
  }

  function axes(xLabel, yLabel, xValues) {
    return [{ label: xLabel, size: 40, labelSize: 18, values: xValues || ((u, vals) => vals.map((v) => EV.fmtValue(v))) },
            { label: yLabel, size: 56, labelSize: 18, values: (u, vals) => vals.map((v) => EV.fmtValue(v)) }];
  }

  function lines(view, item, t, points) {
    const f = item.fields || {};
    const series = groups(t, f.x, f.y, f.stroke);
    const unit = item.kind === "pr_curve" || item.kind === "roc_curve";
    const opts = {
      title: item.title || "",
      scales: { x: unit ? { time: false, range: [0, 1] } : { time: false }, y: unit ? { range: [0, 1.02] } : { auto: true } },
      axes: axes(f.x, f.y),
      series: [{ label: f.x }].concat(series.map((g, i) => points
        ? { label: g.label, stroke: EV.color(i), fill: EV.color(i), paths: () => null, points: { show: true, size: 6, fill: EV.color(i) } }
        : { label: g.label, stroke: EV.color(i), width: 1.5, spanGaps: true, points: { show: false } })),
    };
    plot(view, opts, aligned(series));
    view.dataset.series = String(series.length);
    view.dataset.points = String(series.reduce((n, g) => n + g.pts.length, 0));
  }

  /* bars at xs; `labels` names them (a bar chart: xs are 0..n-1), else the x axis is numeric (a
     histogram's bin centres, `range` its edges) */
  function bars(view, item, xs, values, xLabel, yLabel, labels, range) {
    const named = (u, v) => (v === null || labels[v] === undefined ? "" : labels[v]);
    const opts = {
      title: item.title || "",
      scales: { x: { time: false, range: labels ? [-0.5, Math.max(0.5, values.length - 0.5)] : range },
                y: { range: (u, lo, hi) => [Math.min(0, lo), Math.max(0, hi) || 1] } },
      axes: axes(xLabel, yLabel, labels ? (u, vals) => vals.map((v) => (Number.isInteger(v) ? named(u, v) : "")) : null),
      series: [labels ? { label: xLabel, value: named } : { label: xLabel },
               { label: yLabel, stroke: EV.color(0), fill: EV.color(0) + "aa", points: { show: false },
                 paths: uPlot.paths.bars({ size: [labels ? 0.8 : 1, 80], gap: 1 }) }],
    };
    if (labels) opts.axes[0].incrs = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];
    plot(view, opts, [xs, values]);
    view.dataset.series = "1";
    view.dataset.bars = String(values.length);
  }

  function bar(view, item, t) {
    const f = item.fields || {}, cols = t.columns || [];
    const li = cols.indexOf(f.label), vi = cols.indexOf(f.value);
    const rows = (t.data || []).filter((r) => num(r[vi]) !== null);
    bars(view, item, rows.map((r, i) => i), rows.map((r) => r[vi]), f.label, f.value, rows.map((r) => text(r[li])));
  }

  /* the numbers of a column in equal bins (Sturges' rule, at most MAX_BINS) */
  function histogram(view, item, t) {
    const f = item.fields || {}, vi = (t.columns || []).indexOf(f.value);
    const vals = (t.data || []).map((r) => num(r[vi])).filter((v) => v !== null);
    let lo = Infinity, hi = -Infinity;
    vals.forEach((v) => { if (v < lo) lo = v; if (v > hi) hi = v; });
    if (!vals.length) { lo = 0; hi = 1; }
    const n = vals.length ? Math.min(MAX_BINS, Math.max(1, Math.ceil(Math.log2(vals.length) + 1))) : 1;
    const width = (hi - lo) / n || 1;
    const counts = new Array(n).fill(0);
    vals.forEach((v) => { counts[Math.min(n - 1, Math.floor((v - lo) / width))]++; });
    const centres = counts.map((c, i) => lo + (i + 0.5) * width);
    bars(view, item, centres, counts, f.value, "count", null, [lo, lo + n * width]);
    view.dataset.count = String(vals.length);
  }

  /* actual classes down, predicted across, in the order the table names them; darker = more */
  function confusion(view, item, t) {
    const f = item.fields || {}, cols = t.columns || [];
    const ai = cols.indexOf(f.actual), pi = cols.indexOf(f.predicted), vi = cols.indexOf(f.value);
    const classes = [], counts = new Map();
    let top = 0;
    (t.data || []).forEach(function (r) {
      [r[ai], r[pi]].forEach((c) => { if (classes.indexOf(text(c)) < 0) classes.push(text(c)); });
      const v = num(r[vi]) || 0;
      counts.set(text(r[ai]) + "\u0000" + text(r[pi]), v);
      if (v > top) top = v;
    });
    const head = EV.el("tr", {}, [EV.el("th", { className: "muted" }, "actual \\ predicted")].concat(classes.map((c) => EV.el("th", {}, c))));
    const body = classes.map((a) => EV.el("tr", {}, [EV.el("th", {}, a)].concat(classes.map(function (p) {
      const v = counts.get(a + "\u0000" + p) || 0;
      const shade = top ? v / top : 0;
      return EV.el("td", { className: "cm-cell" + (a === p ? " cm-diag" : ""), title: a + " → " + p + ": " + v,
        style: "background:rgba(47,111,223," + shade.toFixed(3) + ");color:" + (shade > 0.55 ? "#fff" : "#1d2430") }, String(v));
    }))));
    const caption = item.title ? EV.el("caption", {}, item.title) : null;
    view.appendChild(EV.el("table", { className: "media-cm" }, [caption, EV.el("thead", {}, head), EV.el("tbody", {}, body)]));
    view.dataset.series = "0";
    view.dataset.cells = String(classes.length * classes.length);
  }

  function table(view, item, t) {
    const cell = (tag, v) => EV.el(tag, {}, text(v));
    const rows = (t.data || []).slice(0, 200);
    if (item.title) view.appendChild(EV.el("div", { className: "chart-title" }, item.title));
    view.appendChild(EV.el("table", { className: "kv media-table-grid" }, [
      EV.el("thead", {}, [EV.el("tr", {}, (t.columns || []).map((c) => cell("th", c)))]),
      EV.el("tbody", {}, rows.map((r) => EV.el("tr", {}, r.map((v) => cell("td", v)))))]));
    view.dataset.series = "0";
  }

  const DRAW = {
    line: (v, i, t) => lines(v, i, t, false), pr_curve: (v, i, t) => lines(v, i, t, false),
    roc_curve: (v, i, t) => lines(v, i, t, false), scatter: (v, i, t) => lines(v, i, t, true),
    bar: bar, histogram: histogram, confusion_matrix: confusion,
  };

  EV.drawChart = function (view, item, t) {
    if (view._plot) { view._plot.destroy(); view._plot = null; }
    view.replaceChildren();
    view.dataset.kind = item.kind || "";
    (DRAW[item.kind] || table)(view, item, t);
  };
})();
