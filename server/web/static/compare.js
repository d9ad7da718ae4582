/* Compare runs: the picked metric large, and a grid of every metric, each run in its own colour
   (EV.runColor, as on the project page); the cursor moves on every chart at once. */
"use strict";
(function () {
  const EV = window.EV;
  const d = EV.data();
  const box = document.getElementById("compare-chart");
  const grid = document.getElementById("compare-grid");
  const select = document.getElementById("compare-metric");
  const status = document.getElementById("chart-status");
  const controls = EV.chartControls();
  const SYNC = "compare";
  let chart = null;
  const series = [];

  /* the lines of one metric, on its step metric (define_metric) when every run that logged it has the same one */
  function linesOf(metric) {
    const sms = new Set();
    d.runs.forEach((r, i) => {
      if (!(series[i] && series[i][metric])) return;
      const def = EV.metricDef(r.metrics, metric);
      sms.add(def && def.step_metric && series[i][def.step_metric] ? def.step_metric : "step");
    });
    const xLabel = sms.size === 1 ? Array.from(sms)[0] : "step";
    const lines = [];
    d.runs.forEach((r, i) => {
      const s = series[i] && series[i][metric];
      if (!s) return;
      const x = xLabel === "step" ? s : EV.onStepMetric(series[i][xLabel], s[0], s[1]);
      lines.push({ label: r.name || r.id, xs: x[0], ys: x[1], color: EV.runColor(r, i) });
    });
    return { lines: lines, xLabel: xLabel };
  }
  function chartOpts(xLabel, height) {
    return { smoothing: controls.smoothing(), log: controls.log(), xLabel: xLabel, sync: SYNC, height: height };
  }

  function show(metric) {
    const m = linesOf(metric);
    if (chart) chart.destroy();
    chart = m.lines.length ? new EV.Chart(box, metric, m.lines, chartOpts(m.xLabel, 300)) : null;
    box.dataset.metric = metric;
    box.dataset.xlabel = m.xLabel;
    status.textContent = m.lines.length ? "" : "no run logged " + metric;
    grid.querySelectorAll(".chart").forEach((n) => n.classList.toggle("picked", n.dataset.metric === metric));
  }

  function fillGrid(keys) {
    keys.forEach((k) => {
      const m = linesOf(k);
      if (!m.lines.length) return;
      const c = new EV.Chart(grid, k, m.lines, chartOpts(m.xLabel, 200));
      c.box.dataset.xlabel = m.xLabel;
      /* a chart's title picks its metric for the large chart above */
      c.titleNode.classList.add("pick-metric");
      c.titleNode.title = "show " + k + " large above";
      c.titleNode.addEventListener("click", () => { select.value = k; show(k); window.scrollTo(0, 0); });
    });
    grid.dataset.charts = String(grid.querySelectorAll(".chart").length);
  }

  Promise.all(d.runs.map((r) => EV.api("/-/api/runs/" + EV.runPath(d.entity, d.project, r.id) +
      "/series?samples=2000"))).then((all) => {
    all.forEach((x) => series.push(x.series));
    const keys = new Set();
    all.forEach((x, i) => Object.keys(x.series).forEach((k) => {
      const def = EV.metricDef(d.runs[i].metrics, k);
      if (!(def && def.hidden)) keys.add(k); /* define_metric(hidden=True): not charted */
    }));
    const sorted = Array.from(keys).sort();
    /* default: a metric every run has, "loss" when there is one */
    const common = sorted.filter((k) => all.every((x) => k in x.series));
    const first = common.includes("loss") ? "loss" : (common[0] || sorted[0]);
    sorted.forEach((k) => select.appendChild(EV.el("option", { value: k, selected: k === first }, k)));
    select.addEventListener("change", () => show(select.value));
    fillGrid(sorted);
    if (first) show(first); else status.textContent = "these runs logged no metrics";
    box.dataset.ready = "1";
  }).catch((e) => { status.textContent = "could not load the runs' metrics: " + e.message; });
})();
