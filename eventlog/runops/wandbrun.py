"""Run operations: wandb's Run odds and ends that frameworks call (`_label`, `project_url`,
`get_url`, `mark_preempting`, ...)."""
from __future__ import annotations

import time

from ..protocol import project_url
from ._current import current


class WandbRunOps:
    __slots__ = ()

    def _label(self, code=None, repo=None, code_version=None, **kwargs) -> None:
        """wandb's telemetry label (transformers calls `run._label(code="transformers_trainer")`): kept on
        the Run as `labels`, not logged."""
        labels = self.__dict__.setdefault("_labels", {})
        for k, v in (("code", code), ("repo", repo), ("code_version", code_version), *kwargs.items()):
            if v is not None:
                labels[k] = v

    @property
    def project_url(self):
        """The URL of the run's project page on the server (None offline)."""
        return project_url(self.url)

    def get_project_url(self):
        return self.project_url

    def get_url(self):
        return self.url

    @property
    def sweep_id(self):
        """Always None: evlog has no sweeps."""
        return None

    @property
    def display_name(self) -> str:
        return self.name

    def get_sweep_url(self):
        return None

    def mark_preempting(self) -> None:
        """Say that this run is about to be preempted (a `preempting` record, spec/format.md 3), so a
        crash that follows reads as a preemption to resume (`init(resume=...)`), as in wandb."""
        self._append_unless_ended("preempting", {"time": time.time()})

    def status(self) -> dict:
        """How far the run's syncer got: {"sync_items_total", "sync_items_pending"} (wandb's run.status())."""
        from ..runapi.syncproc import _delivered

        total = self._writer.next_seq
        done = _delivered(self._folder) if self._folder is not None else None
        return {"sync_items_total": total, "sync_items_pending": max(0, total - (done or 0))}


def mark_preempting() -> None:
    """`mark_preempting()` on the current run."""
    current("mark_preempting").mark_preempting()
