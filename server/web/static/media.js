/* A run's media: images per step (with a step slider), histograms, videos (spec/protocol.md 4.4).
   Reads /-/api/runs/{entity}/{project}/{run_id}/media; files come from /-/files/... */
"use strict";
(function () {
  const EV = window.EV;
  const box = document.getElementById("media");
  if (!EV || !box) return;
  const run = EV.data();
  const base = EV.enc(run.entity) + "/" + EV.enc(run.project) + "/" + EV.enc(run.id);
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

  function show(p) {
    const i = Number(p.slider.value);
    const item = p.items[i];
    p.stepLabel.textContent = "step " + p.steps[i] + " (" + (i + 1) + "/" + p.items.length + ")";
    p.caption.textContent = item.caption || "";
    if (p.type === "histogram") { drawHistogram(p.view, item); return; }
    const url = fileUrl(item.path);
    const wantVideo = p.type === "video" && VIDEO_TAGS[item.format];
    if (wantVideo !== (p.view.tagName === "VIDEO")) {
      const next = wantVideo ? EV.el("video", { controls: true, loop: true, muted: true, className: "media-view", style: VIEW_STYLE })
        : EV.el("img", { className: "media-view", style: VIEW_STYLE });
      p.view.replaceWith(next);
      p.view = next;
    }
    if (p.view.getAttribute("src") !== url) {
      p.view.setAttribute("src", url);
      if (item.width && item.height) {
        /* small images are shown larger, pixels kept sharp; large ones fit the column */
        const scale = item.width < 256 ? Math.min(8, Math.floor(256 / item.width)) : 1;
        p.view.width = item.width * scale;
        p.view.height = item.height * scale;
      }
      p.view.alt = p.key + " at step " + p.steps[i];
    }
  }

  function panel(key, entry) {
    let p = panels.get(key);
    const atEnd = p ? Number(p.slider.value) === p.items.length - 1 : true;
    if (!p) {
      const view = entry.type === "histogram" ? EV.el("canvas", { width: 360, height: 160, className: "media-view" })
        : EV.el("img", { className: "media-view", style: VIEW_STYLE });
      const slider = EV.el("input", { type: "range", min: "0", step: "1", className: "media-step" });
      const stepLabel = EV.el("span", { className: "muted media-step-label" });
      const caption = EV.el("div", { className: "muted media-caption" });
      const wrap = EV.el("div", { className: "media-panel" }, [EV.el("h3", {}, key), view, caption,
        EV.el("div", { className: "media-controls" }, [slider, stepLabel])]);
      wrap.dataset.key = key;
      p = { key: key, type: entry.type, view: view, slider: slider, stepLabel: stepLabel, caption: caption, box: wrap };
      slider.addEventListener("input", function () { show(p); });
      panels.set(key, p);
      const sorted = Array.from(panels.keys()).sort();
      sorted.forEach((k) => box.appendChild(panels.get(k).box));
    }
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
