"""What a Run does beyond log/config/summary/save/finish, one module per job, mixed into `Run`:
metric definitions (`define_metric`), artifacts, alerts, code saving (`log_code`), model watching
(`watch`), attaching other processes (`_attach_id`), and wandb's run odds and ends (`_label`,
`project_url`, `mark_preempting`). Each module also holds the module-level function of
`eventlog` that acts on the current run. Modules here import only the standard library at import
time: `import eventlog` loads them.
"""
from __future__ import annotations

from .alerts import AlertOps
from .artifacts import ArtifactOps
from .attach import AttachOps
from .code import CodeOps
from .metrics import MetricOps
from .watch import WatchOps
from .wandbrun import WandbRunOps


class RunOps(MetricOps, ArtifactOps, AlertOps, CodeOps, WatchOps, AttachOps, WandbRunOps):
    """The mixin `eventlog.Run` inherits these operations from."""

    __slots__ = ()
