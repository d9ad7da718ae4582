"""A short stand-in training script: logs a run into ./evlog/ through the engine's writer."""
import math
import os
import random
import time

import eventlog

folder = os.path.join("evlog", time.strftime("run-%Y%m%d_%H%M%S-demo0001"))
with eventlog.LogWriter(folder, "demo0001") as log:
    log.append("run", {"id": "demo0001", "project": "demo", "config": {"lr": 0.01, "epochs": 1}})
    for step in range(50):
        loss = math.exp(-step / 20) + random.random() * 0.05
        log.append("history", {"step": step, "data": {"loss": loss, "acc": 1 - loss / 2}})
    log.append("exit", {"exit_code": 0, "runtime": 0.1})
latest = os.path.join("evlog", "latest-run")
if os.path.islink(latest):
    os.unlink(latest)
os.symlink(os.path.basename(folder), latest)
print(f"wrote {folder}")
