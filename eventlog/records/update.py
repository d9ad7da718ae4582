"""The config/summary rule of spec/format.md 3: a `config` or `summary` record's `update` is merged
into the map, then its `remove` keys are deleted. The one home of that rule for every reader."""
from __future__ import annotations

from typing import Any, Dict


def apply_update(target: Dict[Any, Any], body: Dict[Any, Any]) -> None:
    """Apply a config or summary record's body to `target` in place: `update` (a map) merged, then
    each key of `remove` (a list) deleted; anything else in those fields, and an unhashable key to
    remove, changes nothing."""
    upd, rem = body.get("update"), body.get("remove")
    if isinstance(upd, dict):
        target.update(upd)
    for k in rem if isinstance(rem, list) else ():
        try:
            target.pop(k, None)
        except TypeError:  # an unhashable key: not in the map
            pass


def str_keys(body: Dict[Any, Any], *, drop_private: bool = False) -> Dict[str, Any]:
    """A config or summary body with its keys as str, for a reader whose copy is keyed by text (the
    stdout sink's table, the TensorBoard sink's config text); drop_private also leaves out the
    keys of `update` starting with "_". `remove` may be any iterable of keys here, as those readers took it."""
    upd = body.get("update")
    update = None
    if isinstance(upd, dict):
        update = {str(k): v for k, v in upd.items() if not (drop_private and str(k).startswith("_"))}
    return {"update": update, "remove": [str(k) for k in body.get("remove") or ()]}
