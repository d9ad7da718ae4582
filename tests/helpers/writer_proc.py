"""A writer process for the crash and lock tests (run as a script, not collected by pytest).

    writer_proc.py append FOLDER RUN_ID ACK_FILE SESSION FLUSH_INTERVAL
        Opens the log and appends history records forever (until killed). Progress goes to
        ACK_FILE, one line per write: "ready NEXT_SEQ PID" once open, then "SEQ MONOTONIC_TIME"
        after records up to SEQ were appended (the time is taken after the append returned).

    writer_proc.py hold FOLDER RUN_ID
        Opens the log, prints "locked PID" on stdout, waits until stdin is closed (or a line
        arrives), appends one record, closes the writer and exits 0.
"""
from __future__ import annotations

import os
import random
import sys
import time

from eventlog import LogWriter


def append_forever(folder: str, run_id: str, ack_file: str, session: int, flush_interval: float) -> None:
    ack = os.open(ack_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    w = LogWriter(folder, run_id, flush_interval=flush_interval, frame_bytes=1 << 20)
    os.write(ack, f"ready {w.next_seq} {os.getpid()}\n".encode())
    rng = random.Random(session)
    step = 0
    while True:
        for _ in range(10):
            seq = w.append("history", {"step": step, "session": session,
                                       "data": {"loss": rng.random(), "acc": rng.random()}})
            step += 1
        os.write(ack, f"{seq} {time.monotonic()!r}\n".encode())
        time.sleep(0.004)  # a training loop does work between log() calls


def hold(folder: str, run_id: str) -> None:
    w = LogWriter(folder, run_id)
    sys.stdout.write(f"locked {os.getpid()}\n")
    sys.stdout.flush()
    sys.stdin.readline()
    w.append("held", {"pid": os.getpid()})
    w.close()


def main(argv: list) -> None:
    mode = argv[1]
    if mode == "append":
        append_forever(argv[2], argv[3], argv[4], int(argv[5]), float(argv[6]))
    elif mode == "hold":
        hold(argv[2], argv[3])
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv)
