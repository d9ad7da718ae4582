/* A run page's "Delete run": the run id must be typed before DELETE {run}; then the project page. */
"use strict";
(function () {
  const run = EV.data();
  const button = document.getElementById("delete-button");
  const form = document.getElementById("delete-form");
  if (!run || !button || !form) return;
  const input = document.getElementById("delete-confirm");
  const submit = document.getElementById("delete-submit");
  const status = document.getElementById("delete-status");
  button.addEventListener("click", () => { form.hidden = false; button.hidden = true; input.value = ""; submit.disabled = true; input.focus(); });
  document.getElementById("delete-cancel").addEventListener("click", () => { form.hidden = true; button.hidden = false; });
  input.addEventListener("input", () => { submit.disabled = input.value.trim() !== run.id; });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (input.value.trim() !== run.id) return;
    submit.disabled = true;
    status.textContent = "deleting...";
    try {
      await EV.api("/api/v1/runs/" + EV.runPath(run.entity, run.project, run.id), { method: "DELETE" });
      window.location.assign("/" + EV.enc(run.entity) + "/" + EV.enc(run.project));
    } catch (e) {
      status.textContent = "not deleted: " + e.message;
      submit.disabled = false;
    }
  });
})();
