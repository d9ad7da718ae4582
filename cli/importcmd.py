"""`evlog import SOURCE ...`: runs of other trackers into evlog run folders (eventlog/interop/), one
thin subcommand per source. Each prints what it did at the end; a second import of the same source
run is a skip, never a duplicate."""
from __future__ import annotations

import os
import sys
from typing import Optional, Tuple

import click

from eventlog import Error

USAGE_EXIT = 2
PROGRESS_MIN_BYTES = 1 << 20  # smaller imports end before a bar would say anything
PROGRESS_MIN_RUNS = 10        # MLflow: fewer runs than this get no bar


def _dir_option(f):
    return click.option("--dir", "root_dir", metavar="DIR", default=None,
                        help="Write the runs under DIR/evlog/ (default: $EVLOG_DIR, else the current folder).")(f)


def root_of(root_dir: Optional[str]) -> str:
    return root_dir or os.environ.get("EVLOG_DIR") or os.getcwd()


def print_report(report, root: str) -> None:
    """The end summary: counts, skips with their reasons, warnings; then how to upload the runs."""
    for line in report.lines():
        click.echo(line)
    if report.runs:
        from eventlog.capture.sysinfo import shell_quote

        click.echo(f"upload them with: evlog sync {shell_quote(os.path.join(root, 'evlog'))}")


def fail(message: str) -> "click.exceptions.Exit":
    click.echo(f"evlog: {message}", err=True)
    return click.exceptions.Exit(USAGE_EXIT)


@click.group(name="import")
def import_group() -> None:
    """Bring runs in from another tracker (wandb, TensorBoard, MLflow) as evlog runs."""


@import_group.command(name="wandb")
@click.argument("paths", nargs=-1, required=False)
@_dir_option
@click.option("--project", default=None, help="Project of the imported runs (default: each wandb run's own).")
@click.option("--entity", default=None, help="Entity of the imported runs (default: the server's default for you).")
@click.option("--from-server", "from_server", metavar="ENTITY/PROJECT", default=None,
              help="Read the runs of a wandb project through wandb's public API (needs WANDB_API_KEY).")
def wandb_cmd(paths: Tuple[str, ...], root_dir: Optional[str], project: Optional[str], entity: Optional[str],
              from_server: Optional[str]) -> None:
    """Import wandb runs: PATH is a run folder (wandb/run-*/, wandb/offline-run-*/), a run-<id>.wandb
    file, a wandb/ folder, or a folder holding one. History at its steps, config, summary, name,
    notes, tags, group, job_type, times, exit code, console output, media, saved files and
    define_metric definitions; a damaged .wandb file is read around the damage (reported)."""
    from eventlog.interop import wandb_import

    root = root_of(root_dir)
    if not paths and not from_server:
        raise fail("evlog import wandb: give a wandb run folder (or a wandb/ folder), or --from-server ENTITY/PROJECT")
    try:
        if from_server:
            from eventlog.interop.wandb_server import import_from_server

            report = import_from_server(from_server, root, project=project, entity=entity)
        else:
            report = None
        if paths:
            total = wandb_import.total_bytes(paths)
            with click.progressbar(length=total, label="importing wandb runs", file=sys.stderr,
                                   hidden=total < PROGRESS_MIN_BYTES) as bar:
                report = wandb_import.import_wandb(paths, root, project=project, entity=entity, report=report,
                                                   progress=bar.update)
    except Error as exc:
        raise fail(str(exc))
    print_report(report, root)


@import_group.command(name="tensorboard")
@click.argument("logdir")
@_dir_option
@click.option("--project", default=None, help="Project of the imported runs (default: LOGDIR's folder name).")
def tensorboard_cmd(logdir: str, root_dir: Optional[str], project: Optional[str]) -> None:
    """Import TensorBoard logs: each folder under LOGDIR holding event files (*.tfevents.*, from
    TensorBoard/tf, tensorboardX, torch or Keras) is a run, named by its path under LOGDIR. Scalars at
    their steps, histograms and images as media, wall times kept, add_hparams as the config; a torn or
    damaged event file is read up to the damage (reported)."""
    from eventlog.interop import tb_import

    root = root_of(root_dir)
    try:
        total = tb_import.total_bytes(logdir)
        with click.progressbar(length=total, label="importing TensorBoard runs", file=sys.stderr,
                               hidden=total < PROGRESS_MIN_BYTES) as bar:
            report = tb_import.import_tensorboard(logdir, root, project=project, progress=bar.update)
    except Error as exc:
        raise fail(str(exc))
    print_report(report, root)


@import_group.command(name="mlflow")
@click.option("--tracking-uri", "tracking_uri", metavar="URI", default=None,
              help="The MLflow tracking server or store (default: $MLFLOW_TRACKING_URI).")
@click.option("--experiment", default=None, metavar="NAME", help="Only this experiment (a name or id; default: all).")
@_dir_option
def mlflow_cmd(tracking_uri: Optional[str], experiment: Optional[str], root_dir: Optional[str]) -> None:
    """Import MLflow runs that have ended: params as the config, every metric's full history at its
    steps and timestamps, runName/notes/parent/git/user tags, status as the exit code, start/end times,
    the artifact listing (summary field mlflow.artifacts). The project is the experiment's name."""
    from eventlog.interop import mlflow_import

    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        raise fail("evlog import mlflow: give --tracking-uri URI (e.g. http://127.0.0.1:5000) or set MLFLOW_TRACKING_URI")
    root = root_of(root_dir)
    bars: list = []

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(click.progressbar(length=total, label="importing MLflow runs", file=sys.stderr,
                                          hidden=total < PROGRESS_MIN_RUNS))
            bars[0].__enter__()
        bars[0].update(done - bars[0].pos)

    try:
        report = mlflow_import.import_mlflow(uri, root, experiment=experiment, progress=progress)
    except Error as exc:
        raise fail(str(exc))
    finally:
        if bars:
            bars[0].__exit__(None, None, None)
    print_report(report, root)
