"""Throttling of failed authentication per client address (spec/protocol.md 1.2).

Every invalid API key (a Bearer header on any endpoint) and every failed dashboard sign-in costs
the client address one failure; an address may have FAILURE_BURST failures at once and earns one
back every FAILURE_REFILL seconds. While its budget is spent, a request from that address that
carries a key is answered `429 rate_limited` with `Retry-After`, without the key being looked up,
unless the key authenticated on this server process within the last KNOWN_KEY_SECONDS: a valid
key keeps working from an address an attacker shares (NAT, proxy). Counters live in the process's
memory: each worker throttles on its own, and a restart forgets them.
"""
from __future__ import annotations

import ipaddress
import math
import threading
import time
from typing import Any, Callable, Dict, Optional

from .errors import ApiError

FAILURE_BURST = 30
FAILURE_REFILL = 2.0  # seconds
KNOWN_KEY_SECONDS = 3600.0
MAX_TRACKED = 100_000  # addresses (and known keys) kept in memory at most


def client_address(request: Any) -> str:
    """The throttled unit of a request's client address: the address itself for IPv4, its /64 for
    IPv6 (one host is often given a whole /64). Behind a proxy, uvicorn takes it from
    X-Forwarded-For when the proxy's address is in FORWARDED_ALLOW_IPS (default 127.0.0.1)."""
    host = request.client.host if request.client else None
    if not host:
        return "unknown"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class Throttle:
    """Failures per key as a token bucket of `burst` failures refilled one per `refill` seconds,
    kept as one "theoretical arrival time" per key (GCRA)."""

    def __init__(self, burst: int = FAILURE_BURST, refill: float = FAILURE_REFILL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.burst = burst
        self.refill = refill
        self.clock = clock
        self._tat: Dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, who: str) -> float:
        """Seconds until `who` may fail again (0.0: now)."""
        with self._lock:
            tat = self._tat.get(who)
        if tat is None:
            return 0.0
        return max(0.0, tat - self.clock() - (self.burst - 1) * self.refill)

    def failed(self, who: str) -> None:
        """Count one failure of `who`."""
        now = self.clock()
        with self._lock:
            self._tat[who] = max(self._tat.get(who, now), now) + self.refill
            if len(self._tat) > MAX_TRACKED:
                self._prune(now)

    def _prune(self, now: float) -> None:
        """Forget refilled keys (they are as good as new); if too many remain, those nearest to refilled."""
        self._tat = {k: t for k, t in self._tat.items() if t > now}
        if len(self._tat) > MAX_TRACKED:
            keep = sorted(self._tat.items(), key=lambda kv: kv[1])[len(self._tat) // 2:]
            self._tat = dict(keep)


class KeyGuard:
    """The authentication throttle of one server process: failures per address, and the keys
    (by hash) that authenticated recently and so pass a throttled address."""

    def __init__(self, throttle: Optional[Throttle] = None) -> None:
        self.throttle = throttle or Throttle()
        self._known: Dict[str, float] = {}
        self._lock = threading.Lock()

    def check(self, address: str, key_hash: str) -> None:
        """ApiError 429 rate_limited when `address` has spent its failures and the key is not a known one."""
        wait = self.throttle.wait(address)
        if wait <= 0:
            return
        with self._lock:
            known = self._known.get(key_hash, 0.0) > self.throttle.clock()
        if not known:
            raise rate_limited(wait)

    def failed(self, address: str, key_hash: Optional[str] = None) -> None:
        """Count a failure of `address`; the key, if it was a known one (revoked since), is known no more."""
        self.throttle.failed(address)
        if key_hash is not None:
            with self._lock:
                self._known.pop(key_hash, None)

    def succeeded(self, key_hash: str) -> None:
        now = self.throttle.clock()
        with self._lock:
            self._known[key_hash] = now + KNOWN_KEY_SECONDS
            if len(self._known) > MAX_TRACKED:
                self._known = {k: t for k, t in self._known.items() if t > now}
                if len(self._known) > MAX_TRACKED:
                    self._known.clear()


def rate_limited(wait: float) -> ApiError:
    """The 429 answer for an address that must wait `wait` seconds (Retry-After: whole seconds, at least 1)."""
    seconds = max(1, math.ceil(wait))
    return ApiError(429, "rate_limited", f"too many failed sign-ins or invalid API keys from your address: "
                                         f"retry in {seconds} s", retry_after=seconds)
