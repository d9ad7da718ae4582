"""wandb's module-level calls that need no counterpart in evlog (`require`, `setup`), `teardown`, and
the ones evlog does not offer (`sweep`, `agent`, `controller`), which fail with a message saying so."""
from __future__ import annotations

from ..errors import UsageError

# wandb's feature flags: evlog behaves as if each were on (one syncer process per run, attach built in)
KNOWN_REQUIREMENTS = ("service", "core", "legacy-service", "report-editing:v0")


def require(requirement=None, experiment=None) -> None:
    """Accepted for wandb compatibility (`wandb.require("service")`, which Lightning calls before
    pickling its logger): evlog always has what these flags turn on."""
    reqs = requirement if isinstance(requirement, (list, tuple)) else [requirement]
    for req in reqs:
        if req is not None and not isinstance(req, str):
            raise UsageError(f"require() takes a str such as \"service\", got {type(req).__name__} {req!r}")


def setup(settings=None):
    """Accepted for wandb compatibility: evlog starts each run's syncer in init(); nothing to set up."""
    return None


def teardown(exit_code=None) -> None:
    """Finish the current run, if any (wandb.teardown)."""
    from ..runapi.state import current_run

    run = current_run()
    if run is not None:
        run.finish(exit_code)


def _no_sweeps(what: str):
    raise UsageError(
        f"wandb.{what}() (sweeps) is not supported by evlog. Run the search with optuna instead (optuna-integration's "
        "WeightsAndBiasesCallback logs each trial to evlog after `import eventlog.compat.wandb`), or loop over your "
        "configs calling eventlog.init(config=..., reinit=True) per trial")


def sweep(sweep=None, entity=None, project=None, prior_runs=None):  # noqa: A002
    """Not supported: raises UsageError naming the alternatives."""
    _no_sweeps("sweep")


def agent(sweep_id=None, function=None, entity=None, project=None, count=None):
    """Not supported: raises UsageError naming the alternatives."""
    _no_sweeps("agent")


def controller(sweep_id_or_config=None, entity=None, project=None):
    """Not supported: raises UsageError naming the alternatives."""
    _no_sweeps("controller")
