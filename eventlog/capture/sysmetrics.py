"""System metrics while a run is active: CPU, memory, disk, network and GPUs, sampled by a thread
every EVLOG_SYSTEM_INTERVAL seconds (default 10; 0 turns it off) into `system` records
(spec/format.md section 3), as wandb's system charts show them.

Linux figures come from /proc (no dependency); elsewhere only what the standard library knows
(the process's CPU, the disk). GPUs are read with `nvidia-smi` when it is on PATH (one short
query per sample; after a failure it is not asked again). A sample that cannot be taken is left
out; sampling never raises into the program.
"""
from __future__ import annotations

import os
import subprocess
import threading
import time
from typing import Callable, Dict, Optional, Tuple

GPU_FIELDS = ("utilization.gpu", "memory.used", "memory.total", "temperature.gpu", "power.draw")
MIB = 1024.0 * 1024.0


def _read(path: str) -> Optional[str]:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _cpu_times() -> Optional[Tuple[int, int]]:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    text = _read("/proc/stat")
    if not text or not text.startswith("cpu "):
        return None
    vals = [int(x) for x in text.split("\n", 1)[0].split()[1:]]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)  # idle + iowait
    total = sum(vals[:8])  # guest time is already counted in user
    return total - idle, total


def _net_bytes() -> Optional[Tuple[int, int]]:
    """(sent, received) bytes over every interface but loopback, from /proc/net/dev."""
    text = _read("/proc/net/dev")
    if text is None:
        return None
    sent = recv = 0
    for line in text.splitlines()[2:]:
        name, _, rest = line.partition(":")
        fields = rest.split()
        if name.strip() == "lo" or len(fields) < 9:
            continue
        recv += int(fields[0])
        sent += int(fields[8])
    return sent, recv


def _memory_percent() -> Optional[float]:
    text = _read("/proc/meminfo")
    if text is None:
        return None
    info = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts:
            info[key] = int(parts[0])
    total, avail = info.get("MemTotal"), info.get("MemAvailable")
    return round(100.0 * (1 - avail / total), 2) if total and avail is not None else None


def _rss_mib() -> Optional[float]:
    text = _read("/proc/self/statm")
    if text is None:
        return None
    return round(int(text.split()[1]) * os.sysconf("SC_PAGE_SIZE") / MIB, 2)


def _number(text: str) -> Optional[float]:
    try:
        return float(text)
    except ValueError:
        return None  # "[N/A]", "[Not Supported]"


def gpu_metrics(exe: str, timeout: float = 5.0) -> Dict[str, float]:
    """`gpu.<i>.util`, `.memory_used_mib`, `.memory_percent`, `.temp_c`, `.power_w` of every GPU
    nvidia-smi lists. Raises OSError / subprocess errors / ValueError when it cannot answer."""
    out = subprocess.run([exe, f"--query-gpu={','.join(GPU_FIELDS)}", "--format=csv,noheader,nounits"],
                         capture_output=True, text=True, timeout=timeout, check=True).stdout
    metrics: Dict[str, float] = {}
    for i, line in enumerate(x for x in out.splitlines() if x.strip()):
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != len(GPU_FIELDS):
            raise ValueError(f"nvidia-smi printed {line!r}")
        util, used, total, temp, power = (_number(p) for p in parts)
        pairs = {"util": util, "memory_used_mib": used, "temp_c": temp, "power_w": power,
                 "memory_percent": round(100.0 * used / total, 2) if used is not None and total else None}
        metrics.update((f"gpu.{i}.{k}", v) for k, v in pairs.items() if v is not None)
    return metrics


class Sampler:
    """Takes a sample of the system every `interval` seconds and hands it to `emit(metrics)`."""

    def __init__(self, emit: Callable[[Dict[str, float]], None], interval: float, folder: str,
                 nvidia_smi: Optional[str] = None) -> None:
        self.emit = emit
        self.interval = interval
        self.folder = folder
        self.nvidia_smi = nvidia_smi
        self._stop = threading.Event()
        self._last = self._state()
        self._net0 = _net_bytes()
        self._thread = threading.Thread(target=self._run, name="evlog-system", daemon=True)
        self._thread.start()

    def _state(self) -> Tuple[float, float, Optional[Tuple[int, int]]]:
        t = os.times()
        return time.monotonic(), t.user + t.system, _cpu_times()

    def sample(self) -> Dict[str, float]:
        """The metrics since the last sample (CPU) and now (the rest)."""
        m: Dict[str, float] = {}
        wall, cpu, sys_cpu = self._state()
        wall0, cpu0, sys_cpu0 = self._last
        self._last = (wall, cpu, sys_cpu)
        if wall > wall0:
            m["proc.cpu"] = round(100.0 * (cpu - cpu0) / (wall - wall0), 2)
        if sys_cpu and sys_cpu0 and sys_cpu[1] > sys_cpu0[1]:
            m["cpu"] = round(100.0 * (sys_cpu[0] - sys_cpu0[0]) / (sys_cpu[1] - sys_cpu0[1]), 2)
        for key, value in (("proc.memory_rss_mib", _rss_mib()), ("memory", _memory_percent())):
            if value is not None:
                m[key] = value
        try:
            st = os.statvfs(self.folder)
            m["disk"] = round(100.0 * (1 - st.f_bavail / st.f_blocks), 2) if st.f_blocks else 0.0
        except (OSError, AttributeError):
            pass
        net = _net_bytes()
        if net is not None and self._net0 is not None:
            m["network.sent_mib"] = round((net[0] - self._net0[0]) / MIB, 3)
            m["network.recv_mib"] = round((net[1] - self._net0[1]) / MIB, 3)
        if self.nvidia_smi:
            try:
                m.update(gpu_metrics(self.nvidia_smi))
            except Exception:  # noqa: BLE001 - no GPU answer: stop asking, keep the rest
                self.nvidia_smi = None
        return m

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                metrics = self.sample()
                if metrics:
                    self.emit(metrics)
            except Exception:  # noqa: BLE001 - sampling never breaks the run
                pass

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

