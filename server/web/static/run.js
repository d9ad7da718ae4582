/* A run's page: one chart per logged metric, editing name/notes/tags, live updates. */
"use strict";
(function () {
  const EV = window.EV;
  let run = EV.data();
  const runApi = "/-/api/runs/" + EV.runPath(run.entity, run.project, run.id);
  const patchUrl = "/api/v1/runs/" + EV.runPath(run.entity, run.project, run.id);
  const charts = new Map();
  const controls = EV.chartControls();
  const chartBox = document.getElementById("charts");
  const chartStatus = document.getElementById("chart-status");
  let seenSeq = 0;

  EV.runCharts = charts;
  const seen = new Map(); /* metric -> [steps, values] received so far: the x axes of step metrics */

  function chartFor(key, steps, ys) {
    const def = EV.metricDef(run.metrics, key);
    if (def && def.hidden) return null; /* define_metric(hidden=True): not charted */
    const sm = def && def.step_metric && def.step_metric !== key ? def.step_metric : null;
    const x = sm ? EV.onStepMetric(seen.get(sm), steps, ys) : [steps, ys];
    let c = charts.get(key);
    if (c) { if (x[0].length) c.append(x[0], x[1]); return c; }
    /* keep charts sorted by metric name */
    c = new EV.Chart(chartBox, key, [{ label: key, xs: x[0], ys: x[1], color: EV.runColor(run, 0) }],
      { smoothing: controls.smoothing(), log: controls.log(), xLabel: sm || "step", sync: "run" });
    c.box.dataset.xlabel = sm || "step";
    charts.set(key, c);
    const sorted = Array.from(charts.keys()).sort();
    sorted.forEach((k) => chartBox.appendChild(charts.get(k).box));
    return c;
  }

  function addSeries(series) {
    const keys = Object.keys(series);
    keys.forEach((k) => {
      const old = seen.get(k), s = series[k];
      seen.set(k, old ? [old[0].concat(s[0]), old[1].concat(s[1])] : [s[0], s[1]]);
    });
    keys.forEach((k) => chartFor(k, series[k][0], series[k][1]));
    return keys;
  }

  async function loadCharts() {
    const t0 = performance.now();
    chartBox.dataset.scriptAt = String(Math.round(t0));
    const d = await EV.api(runApi + "/series?samples=2000");
    const keys = addSeries(d.series);
    showAlerts(run);
    seenSeq = d.next_seq;
    chartBox.dataset.chartsMs = String(Math.round(performance.now() - t0));
    chartBox.dataset.chartsAt = String(Math.round(performance.now()));
    /* charts are drawn (uPlot draws synchronously); the frame after is when they are on screen */
    await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
    chartBox.dataset.readyAt = String(Math.round(performance.now())); /* ms since navigation start */
    chartBox.dataset.ready = "1";
    if (!keys.length) noMetrics();
  }

  /* a run without metrics says what it has instead: the sections the other scripts fill
     (media.js, files.js, artifacts.js, output.js, system.js) as they show up */
  const PARTS = [["media-section", "media"], ["files-section", "files"], ["artifacts-section", "artifacts"],
    ["logs-section", "console output"], ["system-section", "system metrics"]];
  let watching = null;
  function noMetrics() {
    const say = function () {
      if (charts.size) { chartStatus.textContent = ""; return; }
      const has = PARTS.filter(([id]) => { const n = document.getElementById(id); return n && !n.hidden; })
        .map(([id, what]) => what);
      chartStatus.textContent = has.length
        ? "no metrics logged" + (run.state === "running" ? " yet" : "") + "; this run has " + has.join(", ") + " (below)"
        : (run.state === "running" ? "no metrics logged yet" : "this run logged no metrics");
      chartStatus.dataset.has = has.join(",");
    };
    say();
    if (watching) return;
    watching = new MutationObserver(say);
    PARTS.forEach(([id]) => {
      const n = document.getElementById(id);
      if (n) watching.observe(n, { attributes: true, attributeFilter: ["hidden"] });
    });
  }

  async function newPoints() {
    const d = await EV.api(runApi + "/series?from_seq=" + seenSeq);
    addSeries(d.series);
    seenSeq = d.next_seq;
    if (charts.size) chartStatus.textContent = "";
    else noMetrics();
  }

  /* ---------------------------------------------------------------- text parts of the page */
  function setText(id, text) { const n = document.getElementById(id); if (n) n.textContent = text; }
  function showMeta(r) {
    setText("run-name", r.name || r.id);
    document.title = (r.name || r.id) + " - evlog";
    const crumbs = document.querySelectorAll("header nav a");
    if (crumbs.length) crumbs[crumbs.length - 1].textContent = r.name || r.id;
    const notes = document.getElementById("run-notes");
    notes.textContent = r.notes || "";
    notes.hidden = !r.notes;
    const tags = document.getElementById("run-tags");
    tags.textContent = "";
    (r.tags || []).forEach((t) => tags.appendChild(EV.el("span", { className: "tag" }, t)));
    ["run-state", "run-state-badge"].forEach((id) => {
      const n = document.getElementById(id);
      if (n) { n.textContent = r.state; n.className = "state state-" + r.state; }
    });
    setText("run-steps", r.last_step === null ? "" : String(r.last_step));
    setText("run-rows", r.history_rows === null ? "" : r.history_rows + (r.history_rows === 1 ? " row" : " rows"));
    const ended = document.getElementById("run-ended");
    if (ended) ended.textContent = r.ended_at ? EV.fmtTime(r.ended_at) : "";
    setText("run-duration", EV.fmtDuration(EV.duration(r, r.updated_at)));
    const exit = document.getElementById("run-exit");
    if (exit && r.exit_code !== null) exit.textContent = "exit code " + r.exit_code;
  }
  function showSummary(r) {
    const old = document.getElementById("summary-table");
    const keys = Object.keys(r.summary || {}).sort();
    const table = keys.length
      ? EV.el("table", { className: "kv", id: "summary-table" }, keys.map((k) => EV.el("tr", null, [
          EV.el("th", null, k), EV.el("td", null, EV.el("code", { title: EV.fullValue(r.summary[k]) },
            EV.fmtValue(r.summary[k])))])))
      : EV.el("p", { className: "muted", id: "summary-table" }, "empty");
    old.replaceWith(table);
  }
  /* run.alert(): title, text, level and time of each, newest first */
  function showAlerts(r) {
    const alerts = r.alerts || [];
    let box = document.getElementById("alerts-section");
    if (!alerts.length) { if (box) box.hidden = true; return; }
    if (!box) {
      box = EV.el("section", { id: "alerts-section" });
      chartBox.parentNode.insertBefore(box, chartBox.parentNode.firstChild);
    }
    box.hidden = false;
    box.replaceChildren(EV.el("h2", null, "Alerts"), EV.el("table", { className: "kv", id: "alerts" },
      alerts.slice().reverse().map((a) => EV.el("tr", { className: "alert alert-" + String(a.level).toLowerCase(), dataset: { seq: a.seq } }, [
        EV.el("td", { className: "alert-level" }, a.level),
        EV.el("td", { className: "alert-time" }, EV.fmtTime(a.time)),
        EV.el("td", null, [EV.el("strong", { className: "alert-title" }, a.title), " ",
          EV.el("span", { className: "alert-text" }, a.text)])]))));
  }

  /* ---------------------------------------------------------------- editing */
  const editButton = document.getElementById("edit-button");
  const form = document.getElementById("edit-form");
  if (editButton && form) {
    editButton.addEventListener("click", () => { form.hidden = false; editButton.hidden = true; document.getElementById("edit-name").focus(); });
    document.getElementById("edit-cancel").addEventListener("click", () => { form.hidden = true; editButton.hidden = false; });
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const status = document.getElementById("edit-status");
      const tags = document.getElementById("edit-tags").value.split(",").map((t) => t.trim()).filter((t) => t);
      const body = { name: document.getElementById("edit-name").value, notes: document.getElementById("edit-notes").value, tags: tags };
      status.textContent = "saving...";
      try {
        const r = await EV.api(patchUrl, { method: "PATCH", body: body });
        run = Object.assign(run, r);
        showMeta(run);
        status.textContent = "saved";
        form.hidden = true;
        editButton.hidden = false;
      } catch (e) {
        status.textContent = "not saved: " + e.message;
      }
    });
  }

  /* ---------------------------------------------------------------- live */
  async function poll() {
    const r = await EV.api(runApi);
    const grew = r.next_seq !== run.next_seq;
    const wasRunning = run.state === "running";
    run = Object.assign(run, r);
    showMeta(run);
    if (grew) {
      showSummary(run);
      showAlerts(run);
      await newPoints();
    }
    /* a finished run stops polling after its final update; a crashed one may resume */
    return run.state === "running" || wasRunning || run.state === "crashed";
  }

  loadCharts().then(() => {
    if (run.state === "running" || run.state === "crashed") EV.poll(poll, 1000);
  }).catch((e) => { chartStatus.textContent = "charts could not be loaded: " + e.message; });
})();
