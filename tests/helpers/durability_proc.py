"""A run that logs at a fixed rate until killed (run as a script by tests/engine/test_durability.py).

    durability_proc.py FOLDER COUNTER RATE

eventlog.init(dir=FOLDER, mode="offline"), then run.log() of 10 random floats per step at RATE
steps/s. After each log() returns, the number of completed calls goes into the first 8 bytes of
the COUNTER file (a shared mapping, so it survives a SIGKILL); the next 8 bytes are set to 1 once
init() returned.
"""
from __future__ import annotations

import mmap
import os
import random
import struct
import sys
import time


def main(folder: str, counter: str, rate: float) -> None:
    fd = os.open(counter, os.O_RDWR)
    page = mmap.mmap(fd, 16)
    import eventlog

    run = eventlog.init(dir=folder, project="durability", mode="offline")
    rng = random.Random(7)
    struct.pack_into("<q", page, 8, 1)
    t0 = time.perf_counter()
    i = 0
    while True:
        run.log({f"m{k}": rng.random() for k in range(10)})
        i += 1
        struct.pack_into("<q", page, 0, i)
        ahead = t0 + i / rate - time.perf_counter()
        if ahead > 0:
            time.sleep(ahead)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]))
