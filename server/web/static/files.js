/* A run's files (save(), its code and diff; spec/protocol.md 4.1 and 7.3): path, size and a download
   link each. Code and diff files come only to members (the server leaves them out for others);
   media files are shown under Media, so they are only counted here. Reads
   /-/api/runs/{entity}/{project}/{run_id}/files, again every 5 s while the run is running. */
"use strict";
(function () {
  const EV = window.EV;
  const box = document.getElementById("files");
  const section = document.getElementById("files-section");
  if (!EV || !box || !section) return;
  const run = EV.data();
  const base = EV.runPath(run.entity, run.project, run.id);
  const api = "/-/api/runs/" + base + "/files";
  let shown = "";

  EV.bytes = function (n) {
    if (typeof n !== "number") return "";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : String(n)) + " " + units[i];
  };
  function fileUrl(path) {
    return "/-/files/" + base + "/" + path.split("/").map(EV.enc).join("/");
  }

  function show(files) {
    const text = JSON.stringify(files);
    if (text === shown) return;
    shown = text;
    const listed = files.filter((f) => f.kind !== "media");
    const media = files.length - listed.length;
    const rows = listed.map((f) => EV.el("tr", { dataset: { path: f.path, kind: f.kind } }, [
      EV.el("td", null, f.uploaded
        ? EV.el("a", { href: fileUrl(f.path), download: f.path.split("/").pop(), className: "file-link" }, f.path)
        : EV.el("code", null, f.path)),
      EV.el("td", { className: "muted file-kind" }, f.kind === "other" ? "" : f.kind),
      EV.el("td", { className: "num file-size", title: typeof f.size === "number" ? f.size + " bytes" : null },
        f.uploaded ? EV.bytes(f.size) : "not uploaded yet")]));
    const parts = [];
    if (rows.length) parts.push(EV.el("table", { className: "kv files", id: "files-table" }, rows));
    if (media) parts.push(EV.el("p", { className: "muted", id: "files-media" },
      media + " media file" + (media === 1 ? "" : "s") + ", shown under Media"));
    box.replaceChildren.apply(box, parts);
    section.dataset.count = String(listed.length);
    section.hidden = !rows.length;
  }

  async function load() {
    show((await EV.api(api)).files || []);
    return run.state === "running";
  }

  load().then((again) => { if (again) EV.poll(load, 5000); }).catch(() => { section.hidden = true; });
})();
