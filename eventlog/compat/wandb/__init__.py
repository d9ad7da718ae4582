"""`import eventlog.compat.wandb`: the one line that makes `import wandb` give evlog.

After it, in this process, `import wandb` (and `wandb.sdk`, `wandb.sdk.wandb_run.Run`,
`wandb.sdk.lib.RunDisabled`, `wandb.sdk.lib.config_util.ConfigError`, `wandb.wandb_run.Run`,
`wandb.errors`, `wandb.util`, ...) is this module, whose names are evlog's (`wandb.init` is
`eventlog.init`, `wandb.run` the current evlog Run), and `importlib.metadata.version("wandb")` is
`__version__`, so frameworks' integrations (Hugging Face transformers, Lightning, accelerate,
optuna-integration) find "wandb" and use evlog. It wins over a real wandb that is installed too.
"""
from __future__ import annotations

import sys as _sys

import eventlog as _evlog

from .. import alias as _alias

# the wandb release whose API this layer follows, with evlog's version as the local part
WANDB_API_VERSION = "0.19.11"
__version__ = f"{WANDB_API_VERSION}+evlog.{_evlog.__version__}"

# submodules frameworks import by attribute (`wandb.sdk.wandb_run.Run`) are imported on first use
_SUBMODULES = ("sdk", "errors", "util", "wandb_run", "env", "apis", "data_types")


def __getattr__(name: str):
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    # everything else is evlog's, looked up at each access (`wandb.run` follows init()/finish())
    try:
        return getattr(_evlog, name)
    except AttributeError:
        raise AttributeError(f"module 'wandb' (evlog's wandb compatibility layer) has no attribute {name!r}") from None


def __dir__():
    return sorted(set(globals()) | set(dir(_evlog)) | set(_SUBMODULES))


_alias.install(_sys.modules[__name__])
