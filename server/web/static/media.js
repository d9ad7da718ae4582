/* A run's media: images per step (with a step slider), histograms, videos, tables, audio, HTML pages
   (in a sandboxed frame) and charts (mediachart.js) (spec/protocol.md 4.4).
   Reads /-/api/runs/{entity}/{project}/{run_id}/media; files come from /-/files/... */
"use strict";
(function () {
  const EV = window.EV;
  const box = document.getElementById("media");
  if (!EV || !box) return;
  const run = EV.data();
  const base = EV.runPath(run.entity, run.project, run.id);
  const api = "/-/api/runs/" + base + "/media";
  const panels = new Map();
  const VIDEO_TAGS = { mp4: true, webm: true, ogg: true };
  const VIEW_STYLE = "max-width:100%;height:auto;image-rendering:pixelated;display:block";

  function fileUrl(path) {
    return "/-/files/" + base + "/" + path.split("/").map(encodeURIComponent).join("/");
  }

  function drawHistogram(canvas, h) {
    const ctx = canvas.getContext("2d");
    const w = canvas.width, ht = canvas.height, pad = 18;
    ctx.clearRect(0, 0, w, ht);
    const bins = h.bins || [], counts = h.counts || [];
    if (!counts.length || bins.length !== counts.length + 1) return;
    const lo = bins[0], hi = bins[bins.length - 1], span = (hi - lo) || 1;
    const top = Math.max.apply(null, counts) || 1;
    ctx.fillStyle = "#4c78a8";
    for (let i = 0; i < counts.length; i++) {
      const x0 = pad + (bins[i] - lo) / span * (w - 2 * pad);
      const x1 = pad + (bins[i + 1] - lo) / span * (w - 2 * pad);
      const y = (ht - pad) * (1 - counts[i] / top);
      ctx.fillRect(x0, y, Math.max(1, x1 - x0 - 1), ht - pad - y);
    }
    ctx.fillStyle = "#555";
    ctx.font = "11px sans-serif";
    ctx.textBaseline = "bottom";
    ctx.textAlign = "left";
    ctx.fillText(EV.fmtValue(lo), pad, ht);
    ctx.textAlign = "right";
    ctx.fillText(EV.fmtValue(hi), w - pad, ht);
    ctx.textAlign = "left";
    ctx.textBaseline = "top";
    ctx.fillText("max count " + EV.fmtValue(top), pad, 0);
  }

  /* which element a media value is shown in (a view's data-view): a canvas (histogram), a <video>
     (a video format the browser plays), an <audio>, a sandboxed <iframe> (html), a div (tables,
     charts) or an <img> (images, GIFs) */
  function viewKind(type, format) {
    if (type === "table" || type === "histogram" || type === "audio" || type === "html" || type === "chart") return type;
    return type === "video" && VIDEO_TAGS[format] ? "video" : "img";
  }
  function viewFor(type, format, small) {
    const kind = viewKind(type, format);
    const v = kind === "table" ? EV.el("div", { className: "media-view media-table" })
      : kind === "chart" ? EV.el("div", { className: "media-view media-chart" })
      : kind === "histogram" ? EV.el("canvas", { width: small ? 240 : 360, height: small ? 120 : 160, className: "media-view" })
      : kind === "video" ? EV.el("video", { controls: true, loop: true, muted: true, className: "media-view", style: VIEW_STYLE })
      : kind === "audio" ? EV.el("audio", { controls: true, preload: "metadata", className: "media-view" })
      /* a logged page runs no script and gets an opaque origin: no cookie, no API (the server's CSP says the same) */
      : kind === "html" ? EV.el("iframe", { sandbox: "", referrerpolicy: "no-referrer", className: "media-view media-html" })
      : EV.el("img", { className: "media-view", style: VIEW_STYLE });
    v.dataset.view = kind;
    return v;
  }

  /* a logged table (eventlog.Table): its JSON file, fetched once, drawn as an HTML table of text */
  const TABLE_ROWS = 200;
  const tables = new Map();
  function tableData(path) {
    let t = tables.get(path);
    if (!t) {
      t = fetch(fileUrl(path), { credentials: "same-origin" }).then((r) => {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      });
      if (tables.size > 50) tables.delete(tables.keys().next().value);
      tables.set(path, t);
      t.catch(() => tables.delete(path));
    }
    return t;
  }
  /* a chart (eventlog.plot.*): its table file, drawn by mediachart.js */
  function drawChart(view, item) {
    if (view.dataset.path === item.path) return;
    view.dataset.path = item.path;
    tableData(item.path).then(function (t) {
      if (view.dataset.path !== item.path) return;
      EV.drawChart(view, item, t);
      view.dataset.drawn = item.path;
    }).catch(function (err) { view.textContent = "the chart could not be loaded: " + err; });
  }
  /* one cell of a table (spec/format.md 7, "Media in table cells"): an image (or GIF) cell as a
     thumbnail linking to its file, a histogram as a small chart, other media as their description,
     anything else as text */
  const MEDIA_FILE = /^media\/[0-9a-f]{64}\.[a-z0-9]+$/;
  function tableCell(tag, v) {
    if (v === null || v === undefined) return EV.el(tag, {}, "");
    if (typeof v === "string") return EV.el(tag, {}, v);
    const items = Array.isArray(v) && v.length && EV.isMedia(v[0]) ? v : EV.isMedia(v) ? [v] : null;
    if (!items) return EV.el(tag, {}, EV.fmtValue(v));
    return EV.el(tag, { className: "media-cell" }, items.map(cellThumb));
  }
  function cellThumb(m) {
    const still = m._type === "image" || (m._type === "video" && m.format === "gif");
    if (still && typeof m.path === "string" && MEDIA_FILE.test(m.path)) {
      const img = EV.el("img", { className: "media-thumb", src: fileUrl(m.path), alt: m.caption || m._type,
        title: m.caption || null, style: "max-width:96px;max-height:96px;image-rendering:pixelated" });
      return EV.el("a", { href: fileUrl(m.path), target: "_blank", rel: "noopener" }, [img]);
    }
    if (m._type === "histogram") {
      const c = EV.el("canvas", { width: 120, height: 60, className: "media-thumb" });
      drawHistogram(c, m);
      return c;
    }
    return EV.el("span", { className: "muted" }, EV.fmtValue(m));
  }
  function drawTable(view, item) {
    if (view.dataset.path === item.path) return;
    view.dataset.path = item.path;
    tableData(item.path).then(function (t) {
      if (view.dataset.path !== item.path) return;  /* the slider moved on meanwhile */
      const cell = tableCell;
      const rows = (t.data || []).slice(0, TABLE_ROWS);
      const table = EV.el("table", { className: "kv media-table-grid" }, [
        EV.el("thead", {}, [EV.el("tr", {}, (t.columns || []).map((c) => cell("th", c)))]),
        EV.el("tbody", {}, rows.map((r) => EV.el("tr", {}, r.map((v) => cell("td", v)))))]);
      const parts = [table];
      if ((t.data || []).length > TABLE_ROWS) {
        parts.push(EV.el("div", { className: "muted" }, "showing the first " + TABLE_ROWS + " of " + t.data.length + " rows"));
      }
      view.replaceChildren.apply(view, parts);
      view.dataset.rows = String(rows.length);
    }).catch(function (err) { view.textContent = "the table could not be loaded: " + err; });
  }

  /* show one media map in slot {view, caption} (the view is replaced when its kind of element must change);
     `fit` is the width small images are scaled up to (pixels kept sharp), large ones fit the column */
  function render(slot, type, item, alt, fit) {
    slot.caption.textContent = item.caption || "";
    /* the element this value needs (viewFor's); the slot's view is swapped when it has another */
    const kind = viewKind(type, item.format);
    if (slot.view.dataset.view !== kind) {
      const next = viewFor(type, item.format, fit < 256);
      slot.view.replaceWith(next);
      slot.view = next;
    }
    if (kind === "table" || kind === "chart" || kind === "histogram") {
      slot.view.setAttribute("aria-label", alt);
      if (kind === "table") drawTable(slot.view, item);
      else if (kind === "chart") drawChart(slot.view, item);
      else drawHistogram(slot.view, item);
      return;
    }
    const url = fileUrl(item.path);
    if (slot.view.getAttribute("src") !== url) {
      slot.view.setAttribute("src", url);
      if (item.width && item.height) {
        const scale = item.width < fit ? Math.min(8, Math.floor(fit / item.width)) : 1;
        slot.view.width = item.width * scale;
        slot.view.height = item.height * scale;
      }
    }
    if (kind === "img") slot.view.alt = alt; else slot.view.setAttribute("aria-label", alt);
    if (kind === "html") slot.view.title = alt;
  }

  /* a step that logged a list of media: one cell (view + caption) per item, side by side */
  function renderGallery(p, items, step) {
    const cells = p.cells;
    while (cells.length > items.length) cells.pop().box.remove();
    for (let j = 0; j < items.length; j++) {
      const type = items[j]._type || p.type;
      let cell = cells[j];
      if (!cell) {
        const view = viewFor(type, items[j].format, true);
        const caption = EV.el("div", { className: "muted media-caption" });
        cell = { view: view, caption: caption, box: EV.el("figure", { className: "media-item" }, [view, caption]) };
        cells.push(cell);
        p.gallery.appendChild(cell.box);
      }
      render(cell, type, items[j], p.key + " [" + j + "] at step " + step, 128);
      /* a caption wraps under its own view rather than widening the cell */
      const w = Number(cell.view.getAttribute("width")) || 0;
      cell.caption.style.maxWidth = w ? w + "px" : "";
    }
  }

  function show(p) {
    const i = Number(p.slider.value);
    const item = p.items[i];
    const step = p.steps[i];
    p.stepLabel.textContent = "step " + step + " (" + (i + 1) + "/" + p.items.length + ")";
    const many = Array.isArray(item);
    if (many !== p.galleryShown) {  /* a key may log one value at some steps and a list at others */
      if (many) { p.view.replaceWith(p.gallery); p.caption.remove(); }
      else { p.gallery.replaceWith(p.view); p.view.after(p.caption); }
      p.galleryShown = many;
    }
    if (many) { renderGallery(p, item, step); return; }
    const slot = { view: p.view, caption: p.caption };
    render(slot, item._type || p.type, item, p.key + " at step " + step, 256);
    p.view = slot.view;
  }

  function panel(key, entry) {
    let p = panels.get(key);
    const atEnd = p ? Number(p.slider.value) === p.items.length - 1 : true;
    if (!p) {
      const view = viewFor(entry.type, null, false);
      const slider = EV.el("input", { type: "range", min: "0", step: "1", className: "media-step" });
      const stepLabel = EV.el("span", { className: "muted media-step-label" });
      const caption = EV.el("div", { className: "muted media-caption" });
      const gallery = EV.el("div", { className: "media-gallery" });
      const wrap = EV.el("div", { className: "media-panel" }, [EV.el("h3", {}, key), view, caption,
        EV.el("div", { className: "media-controls" }, [slider, stepLabel])]);
      wrap.dataset.key = key;
      p = { key: key, type: entry.type, view: view, slider: slider, stepLabel: stepLabel, caption: caption,
            gallery: gallery, cells: [], galleryShown: false, box: wrap };
      slider.addEventListener("input", function () { show(p); });
      panels.set(key, p);
      const sorted = Array.from(panels.keys()).sort();
      sorted.forEach((k) => box.appendChild(panels.get(k).box));
    }
    p.type = entry.type;
    p.steps = entry.steps;
    p.items = entry.items;
    p.slider.max = String(entry.items.length - 1);
    p.slider.hidden = entry.items.length < 2;
    if (atEnd) p.slider.value = String(entry.items.length - 1);
    show(p);
  }

  let state = run.state;
  async function load() {
    const d = await EV.api(api);
    Object.keys(d.media).forEach((k) => panel(k, d.media[k]));
    state = d.state;
    box.dataset.ready = "1";
    const section = document.getElementById("media-section");
    if (section) section.hidden = panels.size === 0;
  }

  load().then(function () {
    if (state === "running" && EV.poll) EV.poll(async function () {
      if (state !== "running") return false;
      await load();
      return true;
    }, 3000);
  }).catch(function (err) { box.textContent = "media could not be loaded: " + err; });
})();
