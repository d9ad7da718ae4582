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
    d.runs.forEach((r, i) => {
      const s = series[i] && series[i][metric];
      if (s) lines.push({ label: r.name || r.id, xs: s[0], ys: s[1] });
    });
    if (chart) chart.destroy();
    chart = lines.length ? new EV.Chart(box, metric, lines, { smoothing: controls.smoothing(), log: controls.log() }) : null;
    box.dataset.metric = metric;
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
