/* Compare runs: one metric of every picked run overlaid in one chart. */
"use strict";
(function () {
  const EV = window.EV;
  const d = EV.data();
  const box = document.getElementById("compare-chart");
  const select = document.getElementById("compare-metric");
  const status = document.getElementById("chart-status");
  const controls = EV.chartControls();
  let chart = null;
  const series = [];

  function show(metric) {
    const lines = [];
    /* the x axis: the metric's step metric (define_metric) when every run that logged it has the same one */
    const sms = new Set();
    d.runs.forEach((r, i) => {
      if (!(series[i] && series[i][metric])) return;
      const def = EV.metricDef(r.metrics, metric);
      sms.add(def && def.step_metric && series[i][def.step_metric] ? def.step_metric : "step");
    });
    const xLabel = sms.size === 1 ? Array.from(sms)[0] : "step";
    d.runs.forEach((r, i) => {
      const s = series[i] && series[i][metric];
      if (!s) return;
      const x = xLabel === "step" ? s : EV.onStepMetric(series[i][xLabel], s[0], s[1]);
      lines.push({ label: r.name || r.id, xs: x[0], ys: x[1] });
    });
    if (chart) chart.destroy();
    chart = lines.length ? new EV.Chart(box, metric, lines, { smoothing: controls.smoothing(), log: controls.log(), xLabel: xLabel }) : null;
    box.dataset.metric = metric;
    box.dataset.xlabel = xLabel;
    status.textContent = lines.length ? "" : "no run logged " + metric;
  }

  Promise.all(d.runs.map((r) => EV.api("/-/api/runs/" + EV.runPath(d.entity, d.project, r.id) +
      "/series?samples=2000"))).then((all) => {
    all.forEach((x) => series.push(x.series));
    const keys = new Set();
    all.forEach((x) => Object.keys(x.series).forEach((k) => keys.add(k)));
    const sorted = Array.from(keys).sort();
    /* default: a metric every run has, "loss" when there is one */
    const common = sorted.filter((k) => all.every((x) => k in x.series));
    const first = common.includes("loss") ? "loss" : (common[0] || sorted[0]);
    sorted.forEach((k) => select.appendChild(EV.el("option", { value: k, selected: k === first }, k)));
    select.addEventListener("change", () => show(select.value));
    if (first) show(first); else status.textContent = "these runs logged no metrics";
    box.dataset.ready = "1";
  }).catch((e) => { status.textContent = "could not load the runs' metrics: " + e.message; });
})();
