"""Attaching other processes to a run (spec/format.md section 8).

The run's log keeps one writer: the process that called init() (the owner). Another process (a
spawned worker, a Run unpickled there) logs into that run through a local channel the owner
serves, a Unix socket: `wire` is the framing and the attach id, `server` the owner's side, which
applies each call through its own Run methods under its lock, `client` the attached side's Run.
"""
