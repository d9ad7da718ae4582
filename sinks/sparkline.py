"""Run history as sparklines (`loss █▅▃▂▁▁`), as wandb prints at the end of a run: a bounded,
evenly spaced sample of each numeric key's values, drawn in a fixed width."""
from __future__ import annotations

import math
from typing import Dict, List, Optional

BARS = "▁▂▃▄▅▆▇█"
WIDTH = 20          # characters per sparkline
KEEP = 4 * WIDTH    # samples kept per key at most (halved, and the stride doubled, when full)
MAX_KEYS = 200      # keys followed; later new keys are not (the summary still has them)


class History:
    """Numeric values of each history key, sampled evenly whatever the run's length."""

    def __init__(self) -> None:
        self.keys: Dict[str, List[float]] = {}
        self.stride: Dict[str, int] = {}
        self.seen: Dict[str, int] = {}

    def add(self, key: str, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return
        v = float(value)
        if math.isnan(v) or math.isinf(v):
            return
        vals = self.keys.get(key)
        if vals is None:
            if len(self.keys) >= MAX_KEYS:
                return
            vals = self.keys[key] = []
            self.stride[key], self.seen[key] = 1, 0
        if self.seen[key] % self.stride[key] == 0:
            vals.append(v)
            if len(vals) >= KEEP:
                del vals[1::2]
                self.stride[key] *= 2
        self.seen[key] += 1

    def line(self, key: str, width: int = WIDTH) -> Optional[str]:
        """The key's sparkline, None when it has fewer than two values."""
        vals = self.keys.get(key) or []
        if len(vals) < 2:
            return None
        n = min(width, len(vals))
        cols = [vals[i * len(vals) // n:(i + 1) * len(vals) // n] for i in range(n)]
        means = [sum(c) / len(c) for c in cols]
        lo, hi = min(means), max(means)
        if hi - lo <= 1e-12 * max(abs(hi), abs(lo), 1.0):
            return BARS[0] * n
        return "".join(BARS[min(len(BARS) - 1, int((m - lo) / (hi - lo) * len(BARS)))] for m in means)
