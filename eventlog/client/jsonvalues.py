"""Values of the server's JSON back to the Python values that were logged (spec/protocol.md 1:
NaN and the infinities travel as strings, binary as {"_type": "bytes", "base64": ...})."""
from __future__ import annotations

import base64
from typing import Any

_NUMBERS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


def decode(value: Any, numbers: bool = True) -> Any:
    """`value` with bytes maps decoded and, when `numbers`, "NaN"/"Infinity"/"-Infinity" as floats
    (metrics and summaries: a logged string of exactly that text reads back as the float too)."""
    t = type(value)
    if t is str:
        return _NUMBERS.get(value, value) if numbers else value
    if t is dict:
        if value.get("_type") == "bytes" and len(value) == 2 and isinstance(value.get("base64"), str):
            return base64.b64decode(value["base64"])
        return {k: decode(v, numbers) for k, v in value.items()}
    if t is list:
        return [decode(v, numbers) for v in value]
    return value
