"""Starting and waiting for a run's syncer process (eventlog never imports the sinks: it starts
`python -m eventlog.sinks.syncer` by module path)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Optional, Union


def start_syncer(run_folder: Union[str, os.PathLike], *, parent_pid: Optional[int] = None) -> Optional[subprocess.Popen]:
    """Start the one background syncer process of a run; None when no syncer is installed.

    Placeholder until the sinks issue lands: returns None.
    """
    return None


def wait_syncer(proc: Optional[subprocess.Popen], timeout: float) -> bool:
    """Wait until the syncer has delivered the run to every sink, at most `timeout` seconds.

    Returns True when it finished in time. Placeholder until the sinks issue lands.
    """
    return True
