"""Run operations: watch. `run.watch(model)` hooks a PyTorch model as wandb does: every `log_freq`
backward passes of each parameter its gradient, every `log_freq` forward passes of the model its
parameters, each as a histogram (`gradients/<name>`, `parameters/<name>`) logged with
commit=False, so they join the step the training loop commits next. torch is imported only here."""
from __future__ import annotations

import sys
import threading
import warnings
import weakref
from typing import Any, Optional

from ._current import current

LOG_CHOICES = ("gradients", "parameters", "all", None)
NUM_BINS = 64


class _Watch:
    """The hooks of one watched model, and the key prefix its histograms get."""

    __slots__ = ("model", "prefix", "handles")

    def __init__(self, model, prefix: str) -> None:
        self.model = weakref.ref(model)
        self.prefix = prefix
        self.handles = []

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()


class WatchOps:
    __slots__ = ()

    def watch(self, models, criterion=None, log: Optional[str] = "gradients", log_freq: int = 1000,
              idx: Optional[int] = None, log_graph: bool = False) -> None:
        """Log histograms of a PyTorch model's gradients (`log="gradients"`), parameters
        ("parameters"), both ("all") or neither (None) every `log_freq` batches. `models` is a
        torch.nn.Module or a list/tuple of them; the first watched in a run gets keys
        `gradients/<param>`, later ones `gradients/graph_<i><param>` (as wandb; `idx` sets i).
        Watching a model again replaces its hooks. `criterion` and `log_graph` are accepted for
        wandb compatibility; evlog draws no model graph."""
        if log not in LOG_CHOICES:
            from ..errors import UsageError

            raise UsageError(f"watch(log={log!r}): log must be \"gradients\", \"parameters\", \"all\" or None")
        if isinstance(log_freq, bool) or not isinstance(log_freq, int) or log_freq < 0:
            from ..errors import ArgumentTypeError

            raise ArgumentTypeError(f"watch(log_freq={log_freq!r}): log_freq must be an int >= 1 (batches between logs)")
        if idx is not None and (isinstance(idx, bool) or not isinstance(idx, int) or idx < 0):
            from ..errors import ArgumentTypeError

            raise ArgumentTypeError(f"watch(idx={idx!r}): idx must be an int >= 0 or None")
        models = list(models) if isinstance(models, (list, tuple)) else [models]
        torch = _torch(models)
        for i, m in enumerate(models):
            if not isinstance(m, torch.nn.Module):
                where = "models" if len(models) == 1 else f"models[{i}]"
                from ..errors import ArgumentTypeError

                raise ArgumentTypeError(f"watch({where}=...) takes a torch.nn.Module, got {type(m).__module__}."
                                        f"{type(m).__qualname__}")
        if self._finished:
            self._gate()
        if self._disabled:
            return
        state = _state(self)
        with state["lock"]:
            for i, model in enumerate(models):
                old = state["watches"].pop(id(model), None)
                if old is not None and old.model() is model:
                    old.remove()
                    prefix = old.prefix if idx is None else _prefix(idx + i)
                else:
                    prefix = _prefix(state["count"] if idx is None else idx + i)
                    state["count"] += 1
                w = _Watch(model, prefix)
                if log in ("parameters", "all"):
                    w.handles.append(_hook_parameters(self, torch, model, prefix, log_freq))
                if log in ("gradients", "all"):
                    w.handles.extend(_hook_gradients(self, torch, model, prefix, log_freq))
                state["watches"][id(model)] = w

    def unwatch(self, models=None) -> None:
        """Remove the hooks watch() set: on `models` (a Module or a list of them), or on every model
        this run watches (None). A model this run does not watch gets a warning."""
        state = _state(self)
        with state["lock"]:
            if models is None:
                for w in state["watches"].values():
                    w.remove()
                state["watches"].clear()
                return
            for model in list(models) if isinstance(models, (list, tuple)) else [models]:
                w = state["watches"].pop(id(model), None)
                if w is None or w.model() is not model:
                    from ..errors import EvlogWarning

                    warnings.warn(EvlogWarning(f"unwatch(): {type(model).__name__} model is not watched by run "
                                               f"{self.id!r}"), stacklevel=2)
                    continue
                w.remove()


def _torch(models):
    """torch, or a typed error naming `models` when it is not installed."""
    torch = sys.modules.get("torch")
    if torch is None:
        try:
            import torch
        except ImportError:
            from ..errors import UsageError

            got = ", ".join(sorted({type(m).__qualname__ for m in models})) or "nothing"
            raise UsageError(f"watch(models=...) hooks PyTorch models (torch.nn.Module), and torch is not installed "
                             f"(got {got}); pip install torch, or leave watch() out") from None
    return torch


def _state(run) -> dict:
    st = run.__dict__.get("_watch_state")
    if st is None:
        st = run.__dict__.setdefault("_watch_state", {"lock": threading.Lock(), "watches": {}, "count": 0})
    return st


def _prefix(n: int) -> str:
    return f"graph_{n}" if n > 0 else ""


def _every(log_freq: int):
    """A counter that says True on every log_freq-th call (every call for 0 or 1, as wandb)."""
    count = [0]

    def due() -> bool:
        count[0] += 1
        if count[0] < log_freq:
            return False
        count[0] = 0
        return True

    return due


def _log_hist(run, torch, key: str, tensor) -> None:
    """Log a tensor's values as a 64-bin histogram (commit=False); non-finite values are left out."""
    if run._finished:
        return
    from ..media.base import Histogram

    flat = tensor.detach().reshape(-1)
    if flat.is_floating_point():
        flat = flat.float() if flat.dtype in (torch.float16, torch.bfloat16) else flat
        flat = flat[torch.isfinite(flat)]
    else:
        flat = flat.float()
    if flat.numel() == 0:
        return
    lo, hi = flat.min().item(), flat.max().item()
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    counts = [int(c) for c in torch.histc(flat.double(), bins=NUM_BINS, min=lo, max=hi).cpu().tolist()]
    edges = torch.linspace(lo, hi, steps=NUM_BINS + 1, dtype=torch.float64).tolist()
    run.log({key: Histogram(np_histogram=(counts, edges))}, commit=False)


def _hook_parameters(run, torch, model, prefix: str, log_freq: int) -> Any:
    due = _every(log_freq)

    def after_forward(module, inputs, output) -> None:
        if not due():
            return
        with torch.no_grad():
            for name, p in module.named_parameters():
                _log_hist(run, torch, f"parameters/{prefix}{name}", p)

    return model.register_forward_hook(after_forward)


def _hook_gradients(run, torch, model, prefix: str, log_freq: int) -> list:
    handles = []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        due = _every(log_freq)

        def on_grad(grad, key=f"gradients/{prefix}{name}", due=due) -> None:
            if due():
                _log_hist(run, torch, key, grad)

        handles.append(p.register_hook(on_grad))
    return handles


def watch(models, criterion=None, log: Optional[str] = "gradients", log_freq: int = 1000, idx: Optional[int] = None,
          log_graph: bool = False) -> None:
    """`watch()` on the current run (see Run.watch)."""
    return current("watch").watch(models, criterion, log, log_freq, idx, log_graph)


def unwatch(models=None) -> None:
    """`unwatch()` on the current run (see Run.unwatch)."""
    return current("unwatch").unwatch(models)
