"""Compatibility layers for code written against other trackers' APIs.

`import eventlog.compat.wandb` routes `import wandb` (and `wandb.sdk...`, the `wandb` distribution's
metadata) to evlog for the rest of the process; see `eventlog/compat/wandb/__init__.py`. Nothing
here is imported by `import eventlog`.
"""
