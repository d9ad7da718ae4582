"""The import hook behind `import eventlog.compat.wandb`: `wandb` and `wandb.<sub>` resolve to
`eventlog.compat.wandb` and its submodules, and `importlib.metadata` finds a `wandb` distribution.

One finder at the front of `sys.meta_path` does both jobs:
- `find_spec("wandb.x.y")` returns a spec whose loader hands back `eventlog.compat.wandb.x.y` (one
  module object under both names, so classes and isinstance checks agree); a name the layer does not
  have is a ModuleNotFoundError, never a second copy of an eventlog module;
- `find_distributions()` yields a `wandb` distribution whose version is `WANDB_VERSION`, so
  `importlib.metadata.version("wandb")` and requirement checks such as Lightning's
  `RequirementCache("wandb>=0.12.10")` or accelerate's `is_wandb_available()` pass.
Because it sits first, evlog wins over a real wandb that is installed too.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.metadata
import importlib.util
import sys
import warnings

ALIAS = "wandb"
_target = None  # the module `wandb` becomes (eventlog.compat.wandb), given to install()


def _target_name(fullname: str) -> str:
    return _target.__name__ + fullname[len(ALIAS):]


class _AliasLoader(importlib.abc.Loader):
    """Loads `wandb.x` by importing `eventlog.compat.wandb.x` and returning that module."""

    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec):
        module = importlib.import_module(self.target)
        self._spec = module.__spec__
        return module

    def exec_module(self, module) -> None:
        # already executed under its own name; module_from_spec replaced its __spec__: put it back
        module.__spec__ = self._spec


class _Distribution(importlib.metadata.Distribution):
    """The `wandb` distribution as importlib.metadata sees it: name, version, top-level module."""

    def read_text(self, filename):
        if filename in ("METADATA", "PKG-INFO"):
            return (
                "Metadata-Version: 2.1\n"
                f"Name: {ALIAS}\n"
                f"Version: {_target.__version__}\n"
                "Summary: evlog's wandb compatibility layer (import eventlog.compat.wandb)\n"
            )
        if filename == "top_level.txt":
            return ALIAS + "\n"
        return None

    def locate_file(self, path):
        import pathlib

        return pathlib.Path(_target.__file__).parent / path


class WandbFinder(importlib.abc.MetaPathFinder):
    """The meta path finder for `wandb.*` modules and the `wandb` distribution."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != ALIAS and not fullname.startswith(ALIAS + "."):
            return None
        real = _target_name(fullname)
        try:
            found = importlib.util.find_spec(real)
        except ModuleNotFoundError:
            found = None
        if found is None:
            raise ModuleNotFoundError(
                f"No module named {fullname!r}: evlog's wandb compatibility layer (eventlog.compat.wandb) has no "
                f"{fullname} module", name=fullname)
        is_pkg = found.submodule_search_locations is not None
        spec = importlib.machinery.ModuleSpec(fullname, _AliasLoader(real), is_package=is_pkg)
        if is_pkg:
            spec.submodule_search_locations = list(found.submodule_search_locations)
        return spec

    def find_distributions(self, context=importlib.metadata.DistributionFinder.Context()):
        name = context.name
        if name is None or name.lower().replace("_", "-") == ALIAS:
            yield _Distribution()


_FINDER = WandbFinder()


def install(shim) -> None:
    """Route `wandb` to the module `shim` (eventlog.compat.wandb) in this process (idempotent)."""
    global _target
    _target = shim
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
    target = shim.__name__
    real = [n for n, m in list(sys.modules.items())
            if (n == ALIAS or n.startswith(ALIAS + ".")) and m is not None
            and not getattr(m, "__name__", "").startswith(target)]
    if real:
        warnings.warn(
            "evlog: the real wandb package was imported before `import eventlog.compat.wandb`; code that already "
            "holds it keeps logging to wandb. Put `import eventlog.compat.wandb` first in the script.",
            stacklevel=3)
        for n in real:
            del sys.modules[n]
    sys.modules[ALIAS] = shim
    for n, m in list(sys.modules.items()):  # submodules imported under their own names so far
        if n.startswith(target + "."):
            sys.modules.setdefault(ALIAS + n[len(target):], m)


def uninstall() -> None:
    """Undo `install()` (tests): `wandb` is no longer routed to evlog."""
    while _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
    if _target is None:
        return
    target = _target.__name__
    for n in [n for n in sys.modules if n == ALIAS or n.startswith(ALIAS + ".")]:
        if getattr(sys.modules[n], "__name__", "").startswith(target):
            del sys.modules[n]
