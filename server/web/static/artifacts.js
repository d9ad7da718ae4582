/* A run's artifacts (spec/protocol.md 8.4): the versions it logged and used, with their aliases and
   files, each file a download link. Reads /-/api/runs/{entity}/{project}/{run_id}/artifacts, again
   every 5 s while the run is running. Text only ever goes in as textContent. */
"use strict";
(function () {
  const EV = window.EV;
  const box = document.getElementById("artifacts");
  const section = document.getElementById("artifacts-section");
  if (!EV || !box || !section) return;
  const run = EV.data();
  const api = "/-/api/runs/" + EV.runPath(run.entity, run.project, run.id) + "/artifacts";
  let shown = "";

  function bytes(n) {
    if (typeof n !== "number") return "";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : String(n)) + " " + units[i];
  }

  function fileUrl(v, path) {
    return "/-/artifacts/" + EV.enc(v.entity) + "/" + EV.enc(v.project) + "/" + EV.enc(v.name) + "/v" + v.version +
      "/files/" + path.split("/").map(EV.enc).join("/");
  }

  function version(item, kind) {
    if (item.version === undefined) {  /* a use this server does not hold (or may not show) */
      return EV.el("div", { className: "artifact artifact-" + kind }, EV.el("code", null, item.path));
    }
    const files = (item.files || []).map((f) => EV.el("tr", null, [
      EV.el("td", null, f.ref ? EV.el("code", null, f.path) :
        EV.el("a", { href: fileUrl(item, f.path), download: f.path.split("/").pop(), className: "artifact-file" }, f.path)),
      EV.el("td", { className: "muted" }, f.ref ? "reference: " + f.ref : bytes(f.size))]));
    return EV.el("details", { className: "artifact artifact-" + kind, dataset: { seq: item.seq } }, [
      EV.el("summary", null, [
        EV.el("code", { className: "artifact-name" }, item.name + ":v" + item.version), " ",
        EV.el("span", { className: "muted" }, item.type + ", " + item.file_count + " files, " + bytes(item.size)), " ",
        (item.aliases || []).map((a) => EV.el("span", { className: "tag artifact-alias" }, a))]),
      EV.el("table", { className: "kv artifact-files" }, files)]);
  }

  function show(data) {
    const text = JSON.stringify(data);
    if (text === shown) return;
    shown = text;
    const parts = [];
    if (data.logged.length) parts.push(EV.el("h3", null, "Logged"), data.logged.map((v) => version(v, "logged")));
    if (data.used.length) parts.push(EV.el("h3", null, "Used"), data.used.map((v) => version(v, "used")));
    box.replaceChildren.apply(box, parts.flat());
    section.hidden = !parts.length;
  }

  async function load() {
    show(await EV.api(api));
    return run.state === "running";
  }

  load().then((again) => { if (again) EV.poll(load, 5000); }).catch(() => { section.hidden = true; });
})();
