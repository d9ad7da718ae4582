/* evlog dashboard: shared helpers and the chart component (uPlot).
   User strings only ever reach the page through textContent / attribute setters, never innerHTML. */
"use strict";
(function () {
  const EV = {};
  window.EV = EV;

  EV.data = function (id) {
    const node = document.getElementById(id || "evlog-data");
    return node ? JSON.parse(node.textContent) : null;
  };
  EV.csrf = function () {
    const m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute("content") : "";
  };
  EV.enc = encodeURIComponent;
  /* a run's part of the URLs that name it (/-/api/runs/..., /-/files/..., /api/v1/runs/...) */
  EV.runPath = (entity, project, id) => EV.enc(entity) + "/" + EV.enc(project) + "/" + EV.enc(id);

  EV.api = async function (url, opts) {
    opts = Object.assign({ credentials: "same-origin", headers: {} }, opts || {});
    if (opts.body !== undefined && typeof opts.body !== "string") {
      opts.body = JSON.stringify(opts.body);
      opts.headers["Content-Type"] = "application/json";
    }
    if (opts.method && opts.method !== "GET") opts.headers["X-CSRF-Token"] = EV.csrf();
    const r = await fetch(url, opts);
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    if (!r.ok) {
      const err = new Error((body && body.error) || ("HTTP " + r.status));
      err.status = r.status;
      err.reason = body && body.reason;
      throw err;
    }
    return body;
  };

  /* el("td", {className: "x", title: "..."}, "text" | Node | [children]) */
  EV.el = function (tag, attrs, children) {
    const n = document.createElement(tag);
    if (attrs) {
      for (const k of Object.keys(attrs)) {
        const v = attrs[k];
        if (v === undefined || v === null || v === false) continue;
        if (k === "className") n.className = v;
        else if (k === "dataset") Object.assign(n.dataset, v);
        else if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
        else n.setAttribute(k, v === true ? "" : String(v));
      }
    }
    const add = function (c) {
      if (c === undefined || c === null) return;
      if (Array.isArray(c)) c.forEach(add);
      else if (c instanceof Node) n.appendChild(c);
      else n.appendChild(document.createTextNode(String(c)));
    };
    add(children);
    return n;
  };

  EV.MEDIA_TYPES = ["image", "video", "histogram", "table", "audio", "html", "chart"];
  EV.isMedia = function (v) {
    return !!v && typeof v === "object" && EV.MEDIA_TYPES.indexOf(v._type) >= 0;
  };
  EV.fmtValue = function (v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "number") {
      if (Number.isInteger(v)) return String(v);
      const a = Math.abs(v);
      return (a !== 0 && (a < 1e-3 || a >= 1e6)) ? v.toExponential(4) : String(Number(v.toPrecision(6)));
    }
    if (typeof v === "string") return v;
    if (Array.isArray(v) && v.length && EV.isMedia(v[0])) return v.length + " x " + EV.fmtValue(v[0]);  /* a list of media */
    if (Array.isArray(v)) return "[" + v.map(EV.fmtNested).join(", ") + "]";
    if (v && typeof v === "object" && !EV.isMedia(v)) {
      return "{" + Object.keys(v).map((k) => JSON.stringify(k) + ": " + EV.fmtNested(v[k])).join(", ") + "}";
    }
    if (EV.isMedia(v)) {
      /* a media value (spec/format.md 7): a short description; media.js shows it (server/media.describe) */
      if (v._type === "histogram") return "histogram, " + (v.counts || []).length + " bins";
      if (v._type === "table") return "table, " + v.nrows + " rows x " + (v.columns || []).length + " columns";
      if (v._type === "chart") return "chart, " + v.kind;
      if (v._type === "audio") return "audio " + v.format + (typeof v.duration === "number" ? ", " + EV.fmtValue(v.duration) + " s" : "");
      return v._type + (v.width && v.height ? " " + v.width + "x" + v.height : "") + (v.format ? " " + v.format : "");
    }
    return JSON.stringify(v);
  };
  /* inside a list or map: numbers rounded, strings quoted (as JSON) */
  EV.fmtNested = (v) => (typeof v === "string" || v === null ? JSON.stringify(v) : EV.fmtValue(v));
  EV.fmtTime = function (t) {
    if (!t) return "";
    const d = new Date(t * 1000);
    const p = (x) => String(x).padStart(2, "0");
    return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + " " + p(d.getHours()) + ":" +
      p(d.getMinutes()) + ":" + p(d.getSeconds());
  };
  EV.fmtDuration = function (s) {
    if (s === null || s === undefined || !isFinite(s)) return "";
    s = Math.max(0, Math.round(s));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    return h ? `${h}h ${m}m ${sec}s` : (m ? `${m}m ${sec}s` : `${sec}s`);
  };
  EV.duration = function (run, now) {
    if (run.runtime !== null && run.runtime !== undefined) return run.runtime;
    if (!run.started_at) return null;
    return (run.ended_at || (run.state === "running" ? now : run.updated_at) || now) - run.started_at;
  };
  EV.localTimes = function (root) {
    (root || document).querySelectorAll("time[data-t]").forEach(function (n) {
      n.textContent = EV.fmtTime(parseFloat(n.dataset.t));
    });
  };

  /* ------------------------------------------------------------------ series helpers */
  /* exponential moving average, debiased (as TensorBoard's smoothing) */
  EV.smooth = function (ys, w) {
    if (!w) return ys;
    const out = new Array(ys.length);
    let last = 0, n = 0;
    for (let i = 0; i < ys.length; i++) {
      const y = ys[i];
      if (y === null || !isFinite(y)) { out[i] = y; continue; }
      last = last * w + (1 - w) * y;
      n++;
      out[i] = last / (1 - Math.pow(w, n));
    }
    return out;
  };
  /* keep at most ~max points: min and max of equal step buckets (like the server) */
  EV.decimate = function (xs, ys, max) {
    const n = xs.length;
    if (n <= max) return [xs, ys];
    const buckets = Math.max(1, Math.floor(max / 2));
    const lo = xs[0], width = (xs[n - 1] - lo) / buckets || 1;
    const keep = new Set([0, n - 1]);
    let a = 0;
    while (a < n) {
      const b = Math.floor((xs[a] - lo) / width);
      let e = a, mi = a, ma = a;
      while (e < n && Math.floor((xs[e] - lo) / width) === b) {
        if (ys[e] < ys[mi]) mi = e;
        if (ys[e] > ys[ma]) ma = e;
        e++;
      }
      keep.add(mi); keep.add(ma);
      a = e;
    }
    const idx = Array.from(keep).sort((p, q) => p - q);
    return [idx.map((i) => xs[i]), idx.map((i) => ys[i])];
  };

  /* define_metric: a key's definition in a run's `metrics` list: its own, else the first glob
     ("train/*", "*") whose prefix it starts with; "_" keys match no glob (spec/format.md 3) */
  EV.metricDef = function (defs, key) {
    if (!defs) return null;
    const own = defs.find((d) => d.name === key);
    if (own) return own;
    if (key.startsWith("_")) return null;
    return defs.find((d) => d.name.endsWith("*") && key.startsWith(d.name.slice(0, -1))) || null;
  };
  /* a metric's points on its step metric's axis: each step's x is the step metric's value at that
     step (between two of its points, interpolated: its series may be downsampled; after its last
     point, that value); points before its first value are left out; sorted by x */
  EV.onStepMetric = function (sm, steps, ys) {
    if (!sm || !sm[0].length) return [[], []];
    const ss = sm[0], sv = sm[1], out = [];
    for (let i = 0; i < steps.length; i++) {
      const s = steps[i];
      let lo = 0, hi = ss.length - 1;
      if (s < ss[0]) continue;
      if (s >= ss[hi]) { out.push([sv[hi], ys[i]]); continue; }
      while (hi - lo > 1) { const mid = (lo + hi) >> 1; if (ss[mid] <= s) lo = mid; else hi = mid; }
      const x = ss[lo] === s ? sv[lo] : sv[lo] + (sv[hi] - sv[lo]) * (s - ss[lo]) / (ss[hi] - ss[lo]);
      out.push([x, ys[i]]);
    }
    out.sort((a, b) => a[0] - b[0]);
    return [out.map((p) => p[0]), out.map((p) => p[1])];
  };

  const COLORS = ["#2f6fdf", "#e8590c", "#2b8a3e", "#c2255c", "#7048e8", "#0c8599", "#e67700", "#5c940d",
    "#862e9c", "#1864ab"];
  EV.color = (i) => COLORS[i % COLORS.length];
  /* a run's colour on every page: its place among its project's runs by creation (the server's
     "color", server/web/data.py), so the project, run and compare pages agree */
  EV.runColor = (run, i) => EV.color(run && typeof run.color === "number" ? run.color : i);
  /* a float rounded as tables show it, with its full value for the tooltip (null when the same) */
  EV.fullValue = function (v) {
    if (typeof v === "number" && !Number.isInteger(v) && isFinite(v)) return String(v);
    if (v && typeof v === "object" && !EV.isMedia(v)) {
      const text = JSON.stringify(v);
      return text !== EV.fmtValue(v) ? text : null;
    }
    return null;
  };

  /* ------------------------------------------------------------------ Chart
     lines: [{label, xs, ys, color}]; one uPlot; smoothing draws the smoothed line over a faint raw one.
     A line of one point (or of points with no neighbours) is drawn as dots.
     opts: smoothing, log, maxPoints, xLabel (default "step"), sync (a key: charts of the same key
     share their cursor). */
  /* steps are whole numbers: their axis ticks never fall between two steps */
  const STEP_INCRS = [];
  for (let m = 1; m <= 1e10; m *= 10) STEP_INCRS.push(m, 2 * m, 5 * m);
  EV.Chart = class {
    constructor(container, title, lines, opts) {
      this.box = EV.el("div", { className: "chart", dataset: { metric: title } });
      this.titleNode = EV.el("div", { className: "chart-title" }, title);
      this.plotNode = EV.el("div", { className: "chart-plot" });
      this.box.appendChild(this.titleNode);
      this.box.appendChild(this.plotNode);
      container.appendChild(this.box);
      this.title = title;
      this.lines = lines;
      this.smoothing = (opts && opts.smoothing) || 0;
      this.log = !!(opts && opts.log);
      this.maxPoints = (opts && opts.maxPoints) || 4000;
      this.xLabel = (opts && opts.xLabel) || "step";
      this.sync = (opts && opts.sync) || null;
      this.height = (opts && opts.height) || 220;
      this.plot = null;
      this.draw();
      EV.Chart.all.add(this);
    }
    width() { return Math.max(260, this.box.clientWidth - 4); }
    data() {
      let x, ys;
      if (this.lines.length === 1) {
        x = this.lines[0].xs;
        ys = [this.lines[0].ys];
      } else {
        const joined = uPlot.join(this.lines.map((l) => [l.xs, l.ys]));
        x = joined[0];
        ys = joined.slice(1);
      }
      const pos = (y) => (y === null || (this.log && !(y > 0)) ? null : y);
      const out = [x];
      const smoothed = this.smoothing > 0;
      ys.forEach((y) => {
        if (this.log) y = y.map(pos);
        if (smoothed) out.push(y);
        out.push(smoothed ? EV.smooth(y, this.smoothing) : y);
      });
      return out;
    }
    series() {
      const s = [{ label: this.xLabel }];
      const smoothed = this.smoothing > 0;
      this.lines.forEach((l, i) => {
        const c = l.color || EV.color(i);
        /* uPlot draws no segment for a lone point: dots then (a metric logged once) */
        const dots = { show: EV.lonely(l.ys), size: 7, fill: c, stroke: c };
        if (smoothed) s.push({ label: l.label + " (raw)", stroke: c + "44", width: 1, spanGaps: true, points: { show: false } });
        s.push({ label: l.label, stroke: c, width: 1.5, spanGaps: true, points: dots });
      });
      return s;
    }
    draw() {
      if (this.plot) { this.plot.destroy(); this.plot = null; }
      const d = this.data();
      const opts = {
        width: this.width(),
        height: this.height,
        /* one x value (a metric logged once): centred in a range of one step either side */
        scales: { x: { time: false, range: (u, lo, hi) => {
          const xs = u.data[0];
          return xs.length && xs[0] === xs[xs.length - 1] ? [xs[0] - 1, xs[0] + 1] : [lo, hi];
        } },
          y: this.log ? { distr: 3 } : { auto: true } },
        axes: [{ label: this.xLabel, size: 40, labelSize: 18, incrs: this.xLabel === "step" ? STEP_INCRS : undefined },
               { label: this.title, size: 60, labelSize: 18, values: (u, vals) => vals.map((v) => EV.fmtValue(v)) }],
        series: this.series(),
        legend: { live: true },
        cursor: this.sync ? { drag: { x: true, y: false }, sync: { key: this.sync, setSeries: false } }
          : { drag: { x: true, y: false } },
      };
      this.plot = new uPlot(opts, d, this.plotNode);
      this.box.dataset.points = String(d[0].length);
      this.box.dataset.lines = String(this.lines.length);
    }
    setLines(lines) { this.lines = lines; this.refresh(); }
    refresh() {
      const d = this.data();
      if (this.plot && this.plot.series.length === d.length) {
        this.plot.setData(d);
        this.box.dataset.points = String(d[0].length);
      } else {
        this.draw();
      }
    }
    append(xs, ys) { /* single-line charts: new points of a live run */
      const l = this.lines[0];
      l.xs = l.xs.concat(xs);
      l.ys = l.ys.concat(ys);
      if (l.xs.length > 2 * this.maxPoints) {
        const r = EV.decimate(l.xs, l.ys, this.maxPoints);
        l.xs = r[0]; l.ys = r[1];
      }
      this.refresh();
    }
    setSmoothing(w) { this.smoothing = w; this.draw(); }
    setLog(on) { this.log = on; this.draw(); }
    resize() { if (this.plot) this.plot.setSize({ width: this.width(), height: this.height }); }
    destroy() { if (this.plot) this.plot.destroy(); this.box.remove(); EV.Chart.all.delete(this); }
  };
  EV.Chart.all = new Set();
  /* fewer than two finite points: a line would draw nothing */
  EV.lonely = function (ys) {
    let n = 0;
    for (let i = 0; i < ys.length && n < 2; i++) if (ys[i] !== null && isFinite(ys[i])) n++;
    return n < 2;
  };
  let resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => EV.Chart.all.forEach((c) => c.resize()), 100);
  });

  /* the smoothing slider and log toggle drive every chart on the page */
  EV.chartControls = function () {
    const slider = document.getElementById("smoothing");
    const out = document.getElementById("smoothing-value");
    const log = document.getElementById("log-scale");
    if (slider) slider.addEventListener("input", function () {
      out.textContent = slider.value;
      EV.Chart.all.forEach((c) => c.setSmoothing(parseFloat(slider.value)));
    });
    if (log) log.addEventListener("change", function () {
      EV.Chart.all.forEach((c) => c.setLog(log.checked));
    });
    return {
      smoothing: () => (slider ? parseFloat(slider.value) : 0),
      log: () => (log ? log.checked : false),
    };
  };

  /* poll fn every `ms` while the page is open; fn returns false to stop */
  EV.poll = function (fn, ms) {
    let stopped = false;
    const tick = async function () {
      if (stopped) return;
      let again = true;
      try { again = (await fn()) !== false; } catch (e) { again = true; }
      if (again && !stopped) setTimeout(tick, ms);
    };
    setTimeout(tick, ms);
    return () => { stopped = true; };
  };

  document.addEventListener("DOMContentLoaded", () => EV.localTimes());
})();
