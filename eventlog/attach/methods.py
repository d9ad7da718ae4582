"""Which Run methods an attached process sends to the owner: the run API's writes, and every
method of the run-operation mixins (eventlog/runops) except those that act in the attached
process itself (watch, whose hooks live where the model is; attach)."""
from __future__ import annotations

from .. import runops

# the Run's own writes (config, summary, meta go through these, as run.config / run.summary do)
CORE_CALLS = frozenset({"log", "save", "_config_update", "_config_remove", "_summary_update", "_set_meta"})
# after these the owner answers with its config and summary, which the attached side mirrors
STATE_CALLS = frozenset({"_config_update", "_config_remove", "_summary_update"})


def _mixin_methods() -> frozenset:
    names = set()
    for module in runops.PARTS:
        if module in ("watch", "attach"):
            continue
        for name, value in vars(runops.mixin(module)).items():
            if callable(value) and not (name.startswith("__") and name.endswith("__")):
                names.add(name)
    return frozenset(names)


FORWARDED = _mixin_methods()
OWNER_CALLS = CORE_CALLS | FORWARDED
