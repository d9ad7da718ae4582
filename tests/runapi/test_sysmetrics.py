"""System metrics (eventlog/capture/sysmetrics.py): a thread samples CPU, memory, disk, network and GPUs
(through nvidia-smi, here a stand-in script on PATH) into `system` records while the run is
active; EVLOG_SYSTEM_INTERVAL sets the period, 0 turns it off."""
from __future__ import annotations

import os
import stat
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from eventlog.capture import sysmetrics

from support.run import of_type, only_run_folder, records, run_script, scrubbed_env

FAKE_SMI = """#!/bin/sh
case "$*" in
  *--query-gpu=utilization.gpu,memory.used,memory.total,temperature.gpu,power.draw*--format=csv,noheader,nounits*)
    printf '45, 1024, 8192, 60, 120.5\\n3, 0, 8192, 35, [N/A]\\n' ;;
  *) echo "unexpected arguments: $*" >&2; exit 9 ;;
esac
"""


def fake_smi(folder: Path, text: str = FAKE_SMI) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / "nvidia-smi"
    exe.write_text(text)
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


def test_gpus_are_read_from_nvidia_smi(tmp_path):
    m = sysmetrics.gpu_metrics(str(fake_smi(tmp_path)))
    assert m == {"gpu.0.util": 45.0, "gpu.0.memory_used_mib": 1024.0, "gpu.0.memory_percent": 12.5,
                 "gpu.0.temp_c": 60.0, "gpu.0.power_w": 120.5,
                 "gpu.1.util": 3.0, "gpu.1.memory_used_mib": 0.0, "gpu.1.memory_percent": 0.0, "gpu.1.temp_c": 35.0}


def test_a_sample_measures_this_process_and_a_failing_nvidia_smi_is_dropped(tmp_path):
    broken = fake_smi(tmp_path / "bin", "#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    got = []
    s = sysmetrics.Sampler(got.append, 3600, str(tmp_path), nvidia_smi=str(broken))
    try:
        end = time.process_time() + 0.3
        while time.process_time() < end:  # 0.3 s of this process's CPU
            pass
        m = s.sample()
    finally:
        s.stop()
    assert got == []  # nothing sampled by the thread in an hour's interval
    assert m["proc.cpu"] > 20  # busy since the sampler started (a loaded machine gives less than 100)
    assert 0 < m["disk"] < 100
    if sys.platform.startswith("linux"):
        with open("/proc/self/statm") as f:
            rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
        assert abs(m["proc.memory_rss_mib"] - rss) < 20
        assert 0 < m["memory"] < 100 and 0 <= m["cpu"] <= 100
        assert m["network.sent_mib"] >= 0 and m["network.recv_mib"] >= 0
    assert not any(k.startswith("gpu.") for k in m) and s.nvidia_smi is None


def test_a_run_records_samples_until_it_finishes(tmp_path):
    bindir = tmp_path / "bin"
    fake_smi(bindir)
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent("""
        import time
        import eventlog as wandb
        run = wandb.init(project="sys")
        end = time.time() + 1.5
        while time.time() < end:
            wandb.log({"x": 1.0})
        run.finish()
    """))
    env = scrubbed_env(tmp_path, EVLOG_SYSTEM_INTERVAL="0.25", PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}")
    proc = run_script(script, tmp_path, env)
    assert proc.returncode == 0, proc.stderr
    recs = records(only_run_folder(tmp_path))
    samples = of_type(recs, "system")
    assert 3 <= len(samples) <= 8
    assert samples[-1].seq < of_type(recs, "exit")[0].seq
    times = [r.time for r in samples]
    assert all(0.1 < b - a < 1.5 for a, b in zip(times, times[1:]))
    for r in samples:
        m = r.body["metrics"]
        assert m["proc.cpu"] >= 0 and m["proc.memory_rss_mib"] > 1 and 0 <= m["disk"] <= 100
        assert m["gpu.0.util"] == 45.0 and m["gpu.1.temp_c"] == 35.0


def test_interval_zero_is_off_and_a_bad_interval_is_refused(ev, monkeypatch):
    monkeypatch.setenv("EVLOG_SYSTEM_INTERVAL", "0")
    run = ev.init()
    assert run._sampler is None
    run.finish()
    monkeypatch.setenv("EVLOG_SYSTEM_INTERVAL", "often")
    with pytest.raises(ev.UsageError, match="EVLOG_SYSTEM_INTERVAL='often'.*seconds"):
        ev.init()
    monkeypatch.setenv("EVLOG_SYSTEM_INTERVAL", "0.05")
    run = ev.init()
    time.sleep(0.4)
    run.finish()
    assert not [t for t in threading.enumerate() if t.name == "evlog-system"]
    assert len(of_type(records(run.dir), "system")) >= 2
