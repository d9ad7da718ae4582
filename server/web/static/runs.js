/* The runs table of a project: sort, filter, group rows, chosen config/summary columns, selection
   for compare, live updates (polls the server every second). */
"use strict";
(function () {
  const EV = window.EV;
  const init = EV.data();
  const base = "/" + EV.enc(init.entity) + "/" + EV.enc(init.project);
  const apiUrl = "/-/api/runs/" + EV.enc(init.entity) + "/" + EV.enc(init.project);
  const runs = new Map();
  init.runs.forEach((r) => runs.set(r.id, r));
  let serverNow = init.now;
  let lastPoll = init.now;
  const state = { sort: "started_at", dir: -1, text: "", st: "", tag: "", group: "", groupRows: false };
  const selected = new Set();
  const colKey = "evlog:columns:" + init.entity + "/" + init.project;
  let chosen = null;
  try { chosen = JSON.parse(localStorage.getItem(colKey) || "null"); } catch (e) { chosen = null; }

  const FIXED = [
    { key: "name", label: "name", get: (r) => r.name || r.id },
    { key: "state", label: "state", get: (r) => r.state },
    { key: "user", label: "user", get: (r) => r.user || "" },
    /* the run's own clock (its run record), as the run page's "started"; the first upload when it has none */
    { key: "started_at", label: "started", get: (r) => (r.started_at === null || r.started_at === undefined
      ? r.created_at : r.started_at), fmt: EV.fmtTime },
    { key: "duration", label: "duration", get: (r) => EV.duration(r, serverNow), fmt: EV.fmtDuration },
    { key: "tags", label: "tags", get: (r) => (r.tags || []).join(", ") },
    { key: "group", label: "group", get: (r) => r.group || "" },
    { key: "job_type", label: "job_type", get: (r) => r.job_type || "" },
  ];

  function dynamicKeys() {
    const cfg = new Set(), sum = new Set();
    runs.forEach((r) => {
      Object.keys(r.config || {}).forEach((k) => cfg.add(k));
      Object.keys(r.summary || {}).forEach((k) => sum.add(k));
    });
    return { cfg: Array.from(cfg).sort(), sum: Array.from(sum).sort() };
  }
  function columns() {
    const dk = dynamicKeys();
    if (chosen === null) chosen = dk.cfg.slice(0, 4).map((k) => "config." + k).concat(dk.sum.slice(0, 4).map((k) => "summary." + k));
    const cols = FIXED.slice();
    chosen.forEach((c) => {
      const dot = c.indexOf(".");
      const field = c.slice(0, dot), k = c.slice(dot + 1);
      cols.push({ key: c, label: c, get: (r) => (r[field] || {})[k], fmt: EV.fmtValue, num: true });
    });
    return cols;
  }

  function renderChoices() {
    const box = document.getElementById("column-choices");
    box.textContent = "";
    const dk = dynamicKeys();
    [["config", dk.cfg], ["summary", dk.sum]].forEach(([field, keys]) => {
      keys.forEach((k) => {
        const id = field + "." + k;
        const cb = EV.el("input", { type: "checkbox", dataset: { col: id } });
        cb.checked = chosen.includes(id);
        cb.addEventListener("change", () => {
          if (cb.checked) { if (!chosen.includes(id)) chosen.push(id); } else chosen = chosen.filter((c) => c !== id);
          localStorage.setItem(colKey, JSON.stringify(chosen));
          render();
        });
        box.appendChild(EV.el("label", { className: "choice" }, [cb, " " + id]));
      });
    });
  }

  function fillSelect(id, values, current) {
    const sel = document.getElementById(id);
    const first = sel.options[0];
    sel.textContent = "";
    sel.appendChild(first);
    values.forEach((v) => {
      const o = EV.el("option", { value: v }, v);
      if (v === current) o.selected = true;
      sel.appendChild(o);
    });
  }
  function renderFilters() {
    const tags = new Set(), groups = new Set();
    runs.forEach((r) => { (r.tags || []).forEach((t) => tags.add(t)); if (r.group) groups.add(r.group); });
    fillSelect("filter-tag", Array.from(tags).sort(), state.tag);
    fillSelect("filter-group", Array.from(groups).sort(), state.group);
  }

  function visible() {
    const text = state.text.toLowerCase();
    return Array.from(runs.values()).filter((r) => {
      if (state.st && r.state !== state.st) return false;
      if (state.tag && !(r.tags || []).includes(state.tag)) return false;
      if (state.group && r.group !== state.group) return false;
      if (text) {
        const hay = [r.name, r.id, r.notes, r.group, r.job_type, r.user].concat(r.tags || []).join("\n").toLowerCase();
        if (!hay.includes(text)) return false;
      }
      return true;
    });
  }
  function compare(a, b, col) {
    const va = col.get(a), vb = col.get(b);
    if (va === vb) return 0;
    if (va === undefined || va === null || va === "") return 1;
    if (vb === undefined || vb === null || vb === "") return -1;
    if (typeof va === "number" && typeof vb === "number") return (va - vb) * state.dir;
    return String(va).localeCompare(String(vb), undefined, { numeric: true }) * state.dir;
  }

  function row(r, cols) {
    const cb = EV.el("input", { type: "checkbox", className: "pick", dataset: { run: r.id } });
    cb.checked = selected.has(r.id);
    cb.addEventListener("change", () => {
      if (cb.checked) selected.add(r.id); else selected.delete(r.id);
      updateCompare();
    });
    const cells = [EV.el("td", null, cb)];
    cols.forEach((c) => {
      let content;
      const v = c.get(r);
      if (c.key === "name") {
        content = [EV.el("span", { className: "swatch", style: "background:" + EV.runColor(r), title: "this run's colour in charts" }),
          EV.el("a", { href: base + "/runs/" + EV.enc(r.id), className: "run-link" }, r.name || r.id)];
      } else if (c.key === "state") {
        content = EV.el("span", { className: "state state-" + r.state }, r.state);
      } else if (c.key === "tags") {
        content = (r.tags || []).map((t) => EV.el("span", { className: "tag" }, t));
      } else {
        content = c.fmt ? c.fmt(v) : (v === undefined || v === null ? "" : String(v));
      }
      cells.push(EV.el("td", { className: (c.num ? "num " : "") + "col-" + c.key.replace(/[^A-Za-z0-9_-]/g, "_"),
        dataset: { col: c.key }, title: c.num ? EV.fullValue(v) : null }, content));
    });
    return EV.el("tr", { dataset: { run: r.id, state: r.state } }, cells);
  }

  function render() {
    const cols = columns();
    const table = document.getElementById("runs-table");
    const head = EV.el("tr", null, [EV.el("th", null, "")].concat(cols.map((c) => {
      const arrow = state.sort === c.key ? (state.dir > 0 ? " \u25B2" : " \u25BC") : "";
      return EV.el("th", { dataset: { sort: c.key }, className: "sortable", title: "sort by " + c.label,
        onclick: () => {
          if (state.sort === c.key) state.dir = -state.dir; else { state.sort = c.key; state.dir = 1; }
          render();
        } }, c.label + arrow);
    })));
    table.tHead.textContent = "";
    table.tHead.appendChild(head);
    const sortCol = cols.find((c) => c.key === state.sort) || FIXED[3];
    const list = visible().sort((a, b) => compare(a, b, sortCol));
    const body = table.tBodies[0];
    body.textContent = "";
    if (state.groupRows) {
      const groups = new Map();
      list.forEach((r) => {
        const g = r.group || "";
        if (!groups.has(g)) groups.set(g, []);
        groups.get(g).push(r);
      });
      Array.from(groups.keys()).sort().forEach((g) => {
        const members = groups.get(g);
        body.appendChild(EV.el("tr", { className: "group-row", dataset: { group: g } },
          EV.el("td", { colspan: cols.length + 1 }, [(g || "(no group)") + " ", EV.el("span", { className: "muted" },
            "(" + members.length + " run" + (members.length === 1 ? "" : "s") + ")")])));
        members.forEach((r) => body.appendChild(row(r, cols)));
      });
    } else {
      list.forEach((r) => body.appendChild(row(r, cols)));
    }
    document.getElementById("runs-empty").hidden = list.length > 0;
    table.dataset.rows = String(list.length);
    shown = list;
    scheduleCharts();
  }

  /* ---------------------------------------------------------------- charts of the runs shown */
  const MAX_CHARTED = 10;
  const pcBox = document.getElementById("project-charts");
  const pcNote = document.getElementById("project-charts-note");
  const controls = EV.chartControls();
  const seriesCache = new Map(); /* run id -> {updated_at, series} */
  const pcCharts = new Map(); /* metric -> EV.Chart */
  let shown = [];
  let chartSig = "";
  let chartTimer = null;
  let charting = false;
  function scheduleCharts() {
    clearTimeout(chartTimer);
    chartTimer = setTimeout(refreshCharts, 200);
  }
  async function refreshCharts() {
    if (charting) { scheduleCharts(); return; }
    const runsShown = shown.slice(0, MAX_CHARTED);
    const sig = runsShown.map((r) => r.id + "@" + r.updated_at + "@" + (r.name || "")).join("|");
    if (sig === chartSig) return;
    charting = true;
    try {
      const need = runsShown.filter((r) => !seriesCache.has(r.id) || seriesCache.get(r.id).updated_at !== r.updated_at);
      await Promise.all(need.map(async (r) => {
        const d = await EV.api(apiUrl + "/" + EV.enc(r.id) + "/series?samples=1000");
        seriesCache.set(r.id, { updated_at: r.updated_at, series: d.series });
      }));
      const metrics = new Map();
      runsShown.forEach((r) => {
        const c = seriesCache.get(r.id);
        if (!c) return;
        Object.keys(c.series).forEach((k) => {
          const def = EV.metricDef(r.metrics, k);
          if (def && def.hidden) return; /* define_metric(hidden=True) */
          if (!metrics.has(k)) metrics.set(k, []);
          const sm = def && def.step_metric && c.series[def.step_metric] ? def.step_metric : "step";
          metrics.get(k).push({ label: r.name || r.id, xs: c.series[k][0], ys: c.series[k][1], sm: sm,
            smSeries: c.series[sm], color: EV.runColor(r) });
        });
      });
      pcCharts.forEach((c, k) => { if (!metrics.has(k)) { c.destroy(); pcCharts.delete(k); } });
      Array.from(metrics.keys()).sort().forEach((k) => {
        /* the x axis: the step metric every run charts this metric against, else the step */
        const all = metrics.get(k), xLabel = all.every((l) => l.sm === all[0].sm) ? all[0].sm : "step";
        const lines = all.map((l) => {
          const x = xLabel === "step" ? [l.xs, l.ys] : EV.onStepMetric(l.smSeries, l.xs, l.ys);
          return { label: l.label, xs: x[0], ys: x[1], color: l.color };
        });
        let c = pcCharts.get(k);
        if (c && c.xLabel !== xLabel) { c.destroy(); pcCharts.delete(k); c = null; }
        if (c) { c.lines = lines; c.draw(); } else {
          c = new EV.Chart(pcBox, k, lines, { smoothing: controls.smoothing(), log: controls.log(), xLabel: xLabel,
            sync: "project" });
          c.box.dataset.xlabel = xLabel;
          pcCharts.set(k, c);
        }
        pcBox.appendChild(c.box);
      });
      pcNote.textContent = shown.length > MAX_CHARTED ? "(the first " + MAX_CHARTED + " runs shown above)"
        : (metrics.size ? "" : (runsShown.some((r) => r.state === "running") ? "(no metrics logged yet)"
          : "(these runs logged no metrics)"));
      pcBox.dataset.runs = String(runsShown.length);
      chartSig = sig;
    } finally {
      charting = false;
    }
  }

  function updateCompare() {
    const b = document.getElementById("compare-button");
    b.disabled = selected.size < 2;
    b.textContent = "Compare selected" + (selected.size ? " (" + selected.size + ")" : "");
  }
  document.getElementById("compare-button").addEventListener("click", () => {
    const ids = Array.from(runs.values()).filter((r) => selected.has(r.id)).map((r) => r.id);
    location.href = base + "/compare?runs=" + ids.map(EV.enc).join(",");
  });

  const bind = (id, ev, fn) => document.getElementById(id).addEventListener(ev, fn);
  bind("filter-text", "input", (e) => { state.text = e.target.value; render(); });
  bind("filter-state", "change", (e) => { state.st = e.target.value; render(); });
  bind("filter-tag", "change", (e) => { state.tag = e.target.value; render(); });
  bind("filter-group", "change", (e) => { state.group = e.target.value; render(); });
  bind("group-rows", "change", (e) => { state.groupRows = e.target.checked; render(); });

  render();
  renderChoices();
  renderFilters();
  updateCompare();

  /* live: runs changed since the last poll (5 s overlap for transactions still committing) */
  const status = document.getElementById("live-status");
  EV.poll(async function () {
    const d = await EV.api(apiUrl + "?since=" + (lastPoll - 5));
    serverNow = d.now;
    lastPoll = d.now;
    let changed = false;
    d.runs.forEach((r) => {
      const old = runs.get(r.id);
      if (!old || old.updated_at !== r.updated_at || old.name !== r.name || JSON.stringify(old.tags) !== JSON.stringify(r.tags)) changed = true;
      runs.set(r.id, r);
    });
    const anyRunning = Array.from(runs.values()).some((r) => r.state === "running");
    if (changed) {
      const before = chosen.length;
      render();
      renderFilters();
      if (before === chosen.length) renderChoices();
    } else if (anyRunning) {
      render(); /* durations of running runs */
    }
    status.textContent = anyRunning ? "live" : "";
    return true;
  }, 1000);
})();
