"""Post-import hooks: `when_imported(name, callback)` calls back once a module is imported, by wrapping
that module's loader. Shared by init()'s integrations (magic.py's absl, tbsync.py, gym.py), below
all of them."""
from __future__ import annotations

import sys
import threading

_hooks_lock = threading.RLock()
_when_imported: dict = {}  # module name -> [callback(module)]
_finder = None


class _Loader:
    """Wraps a module's loader to call the waiting callbacks once the module has executed."""

    def __init__(self, inner, name: str) -> None:
        self._inner = inner
        self._name = name

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module) -> None:
        self._inner.exec_module(module)
        module.__loader__ = self._inner
        if module.__spec__ is not None:
            module.__spec__.loader = self._inner
        _run_callbacks(self._name, module)

    def __getattr__(self, name):
        return getattr(self._inner, name)


class _PostImportFinder:
    """A meta path finder that only wraps the loaders of modules someone waits for."""

    def find_spec(self, name, path, target=None):
        if name not in _when_imported:
            return None
        for finder in sys.meta_path:
            if finder is self:
                continue
            find = getattr(finder, "find_spec", None)
            if find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _Loader(spec.loader, name)
                return spec
        return None

    def invalidate_caches(self) -> None:
        pass


def _run_callbacks(name: str, module) -> None:
    with _hooks_lock:
        callbacks = _when_imported.pop(name, [])
    for cb in callbacks:
        try:
            cb(module)
        except Exception as exc:  # noqa: BLE001 - a failed patch must not break the program's import
            sys.stderr.write(f"evlog: could not instrument {name}: {exc}\n")


def when_imported(name: str, callback) -> None:
    """Call `callback(module)` now if `name` is imported, else right after it is."""
    global _finder
    mod = sys.modules.get(name)
    if mod is not None:
        callback(mod)
        return
    with _hooks_lock:
        waiting = _when_imported.setdefault(name, [])
        if callback not in waiting:
            waiting.append(callback)
        if _finder is None:
            _finder = _PostImportFinder()
            sys.meta_path.insert(0, _finder)
