"""Run operations: attaching other processes to the run (`run._attach_id`, pickling a Run,
`eventlog._attach`). The run keeps one writer; attached processes send their calls to it over a
local channel (eventlog/attach, spec/format.md 8)."""
from __future__ import annotations


class AttachOps:
    __slots__ = ()

    @property
    def _attach_id(self):
        """The id another process of this user passes to `eventlog._attach()` to log into this run
        (what Lightning's WandbLogger reads before it pickles itself). Reading it starts the run's
        attach channel. None for a disabled run."""
        if self._disabled:
            return None
        if self._finished or self._forked:
            self._gate()  # RunFinishedError / ForkedWriterError, naming the run
        from ..attach.server import channel_of

        return channel_of(self, start=True).attach_id

    def __reduce__(self):
        # a Run crosses processes by reference: the process that unpickles it attaches to the run
        if self._disabled:
            return (_disabled_run, (self._id, self._name))
        return (_attach, (self._attach_id,))

    def _close_attach(self) -> None:
        """Stop serving attached processes (finish(), after the exit record)."""
        ch = self.__dict__.get("_attach_channel")
        if ch is not None:
            ch.close()


def _attach(attach_id: str = None, run_id: str = None, *, run=None):
    """Log into a run that another process owns (wandb's `_attach`): `attach_id` is that process's
    `run._attach_id`. Returns a Run that sends every call to the owner (eventlog/attach/client.py);
    it becomes `eventlog.run` when no run is active here. In the owner's process, the run itself."""
    if run is not None:
        return run
    if attach_id is None:
        from ..errors import UsageError

        raise UsageError(
            "_attach() needs attach_id=: the run._attach_id read in the process that owns the run"
            + (f" (a run id such as {run_id!r} is not enough: evlog has no service that knows every run)"
               if run_id else "")
        )
    from ..attach.client import attach

    return attach(attach_id)


def _disabled_run(run_id: str, name: str):
    """A disabled Run, unpickled: a disabled run of the same id and name here (it writes nothing)."""
    from ..runapi.start import _start
    from ..runapi.settings import resolve

    return _start(resolve({"mode": "disabled", "id": run_id, "name": name}))
