/* A run's system metrics: one chart per metric over minutes since the run started (spec/protocol.md 4.8).
   Reads /-/api/runs/{entity}/{project}/{run_id}/system; refreshed every 10 s while the run is live. */
"use strict";
(function () {
  const EV = window.EV;
  const box = document.getElementById("system-charts");
  if (!EV || !box) return;
  const run = EV.data();
  const api = "/-/api/runs/" + EV.runPath(run.entity, run.project, run.id) + "/system";
  const charts = new Map();
  /* CPU first, then memory, disk, network, GPUs */
  const ORDER = ["cpu", "proc.cpu", "memory", "proc.memory_rss_mib", "disk", "network.sent_mib", "network.recv_mib"];
  const rank = (k) => { const i = ORDER.indexOf(k); return i >= 0 ? String(i).padStart(3, "0") : "zzz" + k; };
  let state = run.state;

  async function load() {
    const d = await EV.api(api);
    state = d.state;
    const section = document.getElementById("system-section");
    /* shown before the charts are made: a chart takes the width of its box when it is drawn */
    if (section && Object.keys(d.metrics).length) section.hidden = false;
    Object.keys(d.metrics).forEach(function (k) {
      const xs = d.metrics[k][0].map((t) => t / 60);  /* minutes since the start */
      const ys = d.metrics[k][1];
      const c = charts.get(k);
      if (c) { c.setLines([{ label: k, xs: xs, ys: ys }]); return; }
      charts.set(k, new EV.Chart(box, k, [{ label: k, xs: xs, ys: ys }], { xLabel: "minutes" }));
    });
    Array.from(charts.keys()).sort((a, b) => (rank(a) < rank(b) ? -1 : 1)).forEach((k) => box.appendChild(charts.get(k).box));
    box.dataset.ready = "1";
  }

  load().then(function () {
    if (state === "running" && EV.poll) EV.poll(async function () {
      if (state !== "running") return false;
      await load();
      return true;
    }, 10000);
  }).catch(function (err) { box.textContent = "system metrics could not be loaded: " + err; });
})();
