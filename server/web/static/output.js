/* A run's console output ("Logs"), shown as a terminal would (spec/protocol.md 4.7): each stream's text
   concatenated in seq order and cut into lines; within a line the last text after a "\r" wins (progress
   bars redraw their line); stderr lines marked. Reads every page of /-/api/runs/{entity}/{project}/{run_id}/output,
   then, while the run is live, the records after the last one every 2 s. Text only ever goes in as textContent. */
"use strict";
(function () {
  const EV = window.EV;
  const box = document.getElementById("logs");
  if (!EV || !box) return;
  const run = EV.data();
  const api = "/-/api/runs/" + EV.runPath(run.entity, run.project, run.id) + "/output";
  const MAX_LINES = 10000;
  let lines = [];     /* the last lines, in order: {stream, raw, node} */
  let total = 0;      /* lines ever started */
  const open = {};    /* stream -> its line still waiting for a "\n" */
  const changed = new Set();
  let next = -1;
  let state = run.state;

  /* what a line shows: its last non-empty text after a "\r" (a trailing "\r", or "\r\n", keeps the line) */
  function shown(raw) {
    const parts = raw.split("\r");
    for (let i = parts.length - 1; i >= 0; i--) if (parts[i]) return parts[i];
    return "";
  }

  /* a line keeps only what it shows, plus a trailing "\r" when text after it overwrites the line */
  function compact(raw) {
    if (raw.indexOf("\r") < 0) return raw;
    const s = shown(raw);
    return raw.endsWith(s) ? s : s + "\r";
  }

  function add(stream, text) {
    if (!text) return;
    const pieces = text.split("\n");
    pieces.forEach(function (piece, i) {
      const last = i === pieces.length - 1;
      if (last && piece === "") { delete open[stream]; return; }  /* the text ended with "\n" */
      let line = i === 0 ? open[stream] : null;
      if (!line) {
        line = { stream: stream, raw: "", node: null };
        lines.push(line);
        total++;
      }
      line.raw = compact(line.raw + piece);
      changed.add(line);
      if (last) open[stream] = line;
      else delete open[stream];
    });
    if (lines.length > 2 * MAX_LINES) trim();
  }

  function trim() {
    if (lines.length <= MAX_LINES) return;
    const gone = lines.slice(0, lines.length - MAX_LINES);
    lines = lines.slice(lines.length - MAX_LINES);
    gone.forEach(function (line) {
      if (line.node) line.node.remove();
      line.node = null;
      line.gone = true;
    });
  }

  function render() {
    trim();
    const section = document.getElementById("logs-section");
    if (section && total) section.hidden = false;
    const atBottom = !box.dataset.ready || box.scrollHeight - box.scrollTop - box.clientHeight < 8;
    changed.forEach(function (line) {
      if (line.node && !line.gone) line.node.textContent = shown(line.raw) + "\n";
    });
    changed.clear();
    let first = lines.length;
    while (first > 0 && !lines[first - 1].node) first--;
    const frag = document.createDocumentFragment();
    for (let i = first; i < lines.length; i++) {
      const line = lines[i];
      line.node = EV.el("span", { className: line.stream === "stderr" ? "log-line log-stderr" : "log-line" },
                        shown(line.raw) + "\n");
      frag.appendChild(line.node);
    }
    box.appendChild(frag);
    const note = document.getElementById("logs-note");
    if (note) {
      note.hidden = total <= MAX_LINES;
      note.textContent = "showing the last " + MAX_LINES.toLocaleString("en-US") + " of "
        + total.toLocaleString("en-US") + " lines";
    }
    if (atBottom) box.scrollTop = box.scrollHeight;
  }

  /* every output record after `next`, page by page */
  async function load() {
    let got = false;
    for (;;) {
      const d = await EV.api(api + "?after=" + next);
      state = d.state;
      d.output.forEach(function (item) { add(item[1], item[2]); });
      got = got || d.output.length > 0;
      next = d.next;
      if (!d.more) break;
    }
    if (got || !box.dataset.ready) render();
    box.dataset.ready = "1";
    box.dataset.next = String(next);
  }

  load().then(function () {
    if (state === "running" && EV.poll) EV.poll(async function () {
      await load();
      return state === "running";
    }, 2000);
  }).catch(function (err) {
    const section = document.getElementById("logs-section");
    if (section) section.hidden = false;
    box.textContent = "the output could not be loaded: " + err;
  });
})();
