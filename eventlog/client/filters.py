"""`Api.runs()` filters and order: the subset of wandb's MongoDB-style queries that people write.

A filter is compiled once into query parameters the server applies (exact `state`, `group`,
`job_type` and one `tag` at the top level: spec/protocol.md 4.1) and a predicate that the client
applies to every run the server returns; the predicate checks every condition, so what the server
filters is only a narrowing. Fields: `state`, `display_name`, `name` (wandb's name for the run id)
/ `id`, `group`, `job_type`, `tags`, `notes`, `created_at`, `updated_at` / `heartbeat_at`,
`exit_code`, `runtime`, `config.<key>` (wandb's `config.<key>.value` too) and
`summary_metrics.<key>` (nested keys joined with `.`). Operators: `$eq $ne $gt $gte $lt $lte $in
$nin $regex $options $exists $not` on a field, `$and $or $nor` over filters. Anything else is a
FilterError naming it.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Mapping, Sequence, Tuple

from ..errors import FilterError

MISSING = object()
Getter = Callable[[Mapping[str, Any]], Any]
Predicate = Callable[[Mapping[str, Any]], bool]

FIELDS = {
    "state": "state", "display_name": "name", "displayName": "name", "name": "id", "id": "id",
    "group": "group", "job_type": "job_type", "jobType": "job_type", "tags": "tags", "notes": "notes",
    "created_at": "created_at", "createdAt": "created_at", "updated_at": "updated_at",
    "heartbeat_at": "updated_at", "heartbeatAt": "updated_at", "exit_code": "exit_code", "runtime": "runtime",
}
SECTIONS = {"config": "config", "summary_metrics": "summary", "summaryMetrics": "summary", "summary": "summary"}
TIME_FIELDS = ("created_at", "updated_at")
FIELD_OPS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$regex", "$options", "$exists", "$not")
LOGICAL_OPS = ("$and", "$or", "$nor")
SERVER_PARAMS = {"state": "state", "group": "group", "job_type": "job_type", "jobType": "job_type", "tags": "tag"}
STATES = ("running", "finished", "failed", "crashed")
_COMPARE = {"$gt": lambda a, b: a > b, "$gte": lambda a, b: a >= b, "$lt": lambda a, b: a < b,
            "$lte": lambda a, b: a <= b}
_REGEX_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}


def lookup(data: Any, parts: Sequence[str]) -> Any:
    """The value at a dotted path in nested maps (a key holding dots is matched whole first);
    a last part `value` that is not a key is wandb's `config.<key>.value`: the value itself."""
    if not parts:
        return data
    if not isinstance(data, dict):
        return data if list(parts) == ["value"] else MISSING
    for i in range(len(parts), 0, -1):
        key = ".".join(parts[:i])
        if key in data:
            found = lookup(data[key], parts[i:])
            if found is not MISSING:
                return found
    return MISSING


def field(name: Any) -> Tuple[Getter, bool]:
    """(getter of the field in a run object, whether it is a time) for a filter or order field name."""
    if not isinstance(name, str) or not name:
        raise FilterError(f"a filter field must be a non-empty str, got {name!r}")
    if name in FIELDS:
        attr = FIELDS[name]
        return (lambda run: _present(run.get(attr, MISSING))), attr in TIME_FIELDS
    head, _, rest = name.partition(".")
    if head in SECTIONS and rest:
        section, parts = SECTIONS[head], rest.split(".")
        return (lambda run: lookup(run.get(section) or {}, parts)), False
    raise FilterError(
        f"runs() cannot filter or order on {name!r}: use one of {', '.join(sorted(set(FIELDS)))}, "
        "config.<key> or summary_metrics.<key>")


def _present(v: Any) -> Any:
    return MISSING if v is None else v


def _time(v: Any, name: str) -> Any:
    """A time operand as Unix seconds: ISO 8601 text (UTC unless it says otherwise) or a datetime."""
    if isinstance(v, str):
        try:
            v = datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            raise FilterError(f"{name} compares with Unix seconds or ISO 8601 text like 2024-05-01T12:00:00, "
                              f"got {v!r}") from None
    if isinstance(v, datetime):
        return (v if v.tzinfo else v.replace(tzinfo=timezone.utc)).timestamp()
    return v


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _eq(value: Any, want: Any) -> bool:
    if value is MISSING:
        return want is None
    if isinstance(value, list) and not isinstance(want, list):
        return any(_eq(v, want) for v in value)
    if _number(value) and _number(want):
        return value == want
    return type(value) is type(want) and value == want


def _compare(op: str, value: Any, want: Any) -> bool:
    if isinstance(value, list):
        return any(_compare(op, v, want) for v in value)
    if (_number(value) and _number(want)) or (isinstance(value, str) and isinstance(want, str)):
        return _COMPARE[op](value, want)
    return False


def _field_predicate(name: str, cond: Any) -> Predicate:
    get, is_time = field(name)
    if not (isinstance(cond, dict) and cond and all(isinstance(k, str) and k.startswith("$") for k in cond)):
        want = _time(cond, name) if is_time else cond
        return lambda run: _eq(get(run), want)
    unknown = [k for k in cond if k not in FIELD_OPS]
    if unknown:
        raise FilterError(f"runs() does not support the operator(s) {', '.join(unknown)} (on {name!r}); "
                          f"supported: {' '.join(FIELD_OPS + LOGICAL_OPS)}")
    checks: List[Callable[[Any], bool]] = []
    for op, arg in cond.items():
        if op == "$options":
            if "$regex" not in cond:
                raise FilterError(f"$options goes with $regex (on {name!r})")
            continue
        checks.append(_operator(name, op, arg, cond, is_time))
    return lambda run: all(check(get(run)) for check in checks)


def _operator(name: str, op: str, arg: Any, cond: Mapping[str, Any], is_time: bool) -> Callable[[Any], bool]:
    if is_time and op in ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte"):
        arg = _time(arg, name)
    if op == "$eq":
        return lambda v: _eq(v, arg)
    if op == "$ne":
        return lambda v: not _eq(v, arg)
    if op in _COMPARE:
        return lambda v: v is not MISSING and _compare(op, v, arg)
    if op in ("$in", "$nin"):
        if not isinstance(arg, (list, tuple, set, frozenset)):
            raise FilterError(f"{op} takes a list of values (on {name!r}), got {type(arg).__name__}")
        wants = [_time(a, name) if is_time else a for a in arg]
        if op == "$in":
            return lambda v: any(_eq(v, w) for w in wants)
        return lambda v: not any(_eq(v, w) for w in wants)
    if op == "$regex":
        return _regex(name, arg, cond.get("$options", ""))
    if op == "$exists":
        if not isinstance(arg, bool):
            raise FilterError(f"$exists takes True or False (on {name!r}), got {arg!r}")
        return lambda v: (v is not MISSING) == arg
    # $not: the negation of an operator map
    if not isinstance(arg, dict):
        raise FilterError(f"$not takes a map of operators such as {{'$gt': 1}} (on {name!r}), got {arg!r}")
    bad = [k for k in arg if k not in FIELD_OPS or k == "$not"]
    if bad or not arg:
        raise FilterError(f"$not takes a non-empty map of field operators (on {name!r}); not {', '.join(bad)}")
    negated = [_operator(name, k, a, arg, is_time) for k, a in arg.items() if k != "$options"]
    return lambda v: not all(check(v) for check in negated)


def _regex(name: str, pattern: Any, options: Any) -> Callable[[Any], bool]:
    if isinstance(pattern, re.Pattern):
        rx = pattern
    elif isinstance(pattern, str):
        if not isinstance(options, str) or any(c not in _REGEX_FLAGS for c in options):
            raise FilterError(f"$options takes letters of 'imsx' (on {name!r}), got {options!r}")
        flags = 0
        for c in options:
            flags |= _REGEX_FLAGS[c]
        try:
            rx = re.compile(pattern, flags)
        except re.error as exc:
            raise FilterError(f"$regex {pattern!r} (on {name!r}) is not a valid regular expression: {exc}") from None
    else:
        raise FilterError(f"$regex takes a str pattern (on {name!r}), got {type(pattern).__name__}")

    def match(v: Any) -> bool:
        if isinstance(v, list):
            return any(match(x) for x in v)
        return isinstance(v, str) and rx.search(v) is not None

    return match


def predicate(filters: Any) -> Predicate:
    """The predicate of a filter map over a run object (spec/protocol.md 4.2)."""
    if filters is None:
        return lambda run: True
    if not isinstance(filters, dict):
        raise FilterError(f"filters must be a dict such as {{'state': 'finished'}}, got {type(filters).__name__}")
    parts: List[Predicate] = []
    for key, cond in filters.items():
        if isinstance(key, str) and key.startswith("$"):
            if key not in LOGICAL_OPS:
                raise FilterError(f"runs() does not support the operator {key} at the top of a filter; "
                                  f"there: {' '.join(LOGICAL_OPS)}; on a field: {' '.join(FIELD_OPS)}")
            if not isinstance(cond, (list, tuple)) or not cond:
                raise FilterError(f"{key} takes a non-empty list of filters, got {cond!r}")
            subs = [predicate(c) for c in cond]
            if key == "$and":
                parts.append(lambda run, subs=subs: all(p(run) for p in subs))
            elif key == "$or":
                parts.append(lambda run, subs=subs: any(p(run) for p in subs))
            else:
                parts.append(lambda run, subs=subs: not any(p(run) for p in subs))
        else:
            parts.append(_field_predicate(key, cond))
    return lambda run: all(p(run) for p in parts)


def server_params(filters: Any) -> Dict[str, str]:
    """The conditions of a filter the server applies itself: exact str matches on state, group,
    job_type and tags, at the top level (or in a top-level $and)."""
    out: Dict[str, str] = {}
    if not isinstance(filters, dict):
        return out
    items = list(filters.items())
    for sub in filters.get("$and") or ():
        if isinstance(sub, dict):
            items += list(sub.items())
    for key, cond in items:
        param = SERVER_PARAMS.get(key) if isinstance(key, str) else None
        if isinstance(cond, dict) and list(cond) == ["$eq"]:
            cond = cond["$eq"]
        if param is None or not isinstance(cond, str) or param in out:
            continue
        if param == "state" and cond not in STATES:
            continue  # the server refuses other states; the predicate matches none
        out[param] = cond
    return out


def order_key(order: Any) -> Tuple[Getter, bool]:
    """(getter, descending) of an order like "-created_at", "+config.lr" or "summary_metrics.acc"."""
    if not isinstance(order, str) or not order.strip("+- "):
        raise FilterError(f"order must be a field name with an optional + or - such as '-created_at', got {order!r}")
    order = order.strip()
    desc = order.startswith("-")
    get, _ = field(order.lstrip("+-"))
    return get, desc


def _sort_value(v: Any) -> Tuple[int, Any]:
    if _number(v):
        return (1, 0) if v != v else (0, v)
    if isinstance(v, str):
        return (2, v)
    return (3, repr(v))


def sort(items: List[Any], attrs: Callable[[Any], Mapping[str, Any]], order: Tuple[Getter, bool]) -> List[Any]:
    """`items` ordered by the order's field (stable), the items lacking it last."""
    get, desc = order
    have = [(get(attrs(i)), i) for i in items]
    present = [p for p in have if p[0] is not MISSING]
    present.sort(key=lambda p: _sort_value(p[0]), reverse=desc)
    return [i for _, i in present] + [i for v, i in have if v is MISSING]


def compile_filters(filters: Any) -> Tuple[Dict[str, str], Predicate]:
    """(server query parameters, client predicate) of a runs() filter; a FilterError now, not on first use."""
    pred = predicate(filters)
    return server_params(filters), pred

