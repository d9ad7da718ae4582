"""`evlog import tensorboard LOGDIR`: TensorBoard event files as evlog runs.

A run is a folder under LOGDIR holding event files (`*tfevents*`, any writer: TensorBoard/tf,
tensorboardX, torch.utils.tensorboard, Keras); its files are read in name order (their names begin
with the writer's start time) and their events merged by step: scalars become history values at
their step, histograms `eventlog.Histogram`, images `eventlog.Image`, each row at the wall time of
its last event; the hparams plugin's session start (add_hparams) becomes the config. A value
written twice for one step (a training restarted from a checkpoint) keeps the last one written.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from ..rundir.tensorboard import is_program_event_file
from .tfevents import EventFile, convert_value, event_class, first_event

SOURCE_KIND = "tensorboard"


# a TensorBoard event file by its name (the tensorboard sink's `.evlog` files excluded)
is_event_file = is_program_event_file


def find_runs(logdir: Path) -> List[Path]:
    """The folders under `logdir` (itself included) holding event files, in path order; evlog run
    folders met on the way are not walked (their synced copies are not the program's files)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(logdir):
        dirnames[:] = sorted(d for d in dirnames if not (os.path.isdir(os.path.join(dirpath, d, "log"))
                                                        and d.startswith("run-")))
        if any(is_event_file(n) for n in filenames):
            out.append(Path(dirpath))
    return sorted(out)


def event_files(folder: Path) -> List[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and is_event_file(p.name))


def source_id(logdir: Path, folder: Path, Event=None) -> str:  # noqa: N803
    """What names a TensorBoard run across imports: its path under the log dir, its first event
    file's name (the writer's start second and host) and that file's first wall time (to the
    microsecond), so a moved log dir is the same source and two log dirs with a `train/` run are not."""
    rel = folder.relative_to(logdir).as_posix()
    first = event_files(folder)[0]
    ev = first_event(first, Event or event_class())
    stamp = repr(float(ev.wall_time)) if ev is not None else ""
    return f"{rel}\n{first.name}\n{stamp}"


def tb_run_id(logdir: Path, folder: Path, Event=None) -> str:  # noqa: N803
    from .newrun import derived_run_id

    digest = hashlib.sha256(source_id(logdir, folder, Event).encode()).hexdigest()[:16]
    return derived_run_id("tb", digest)


def _hparams(v) -> Optional[dict]:
    """The hyperparameters of an hparams-plugin session start summary, or None."""
    try:
        from tensorboard.plugins.hparams import plugin_data_pb2
    except ImportError:
        return None
    try:
        d = plugin_data_pb2.HParamsPluginData.FromString(v.metadata.plugin_data.content)
    except Exception:  # noqa: BLE001 - not parsable: not config
        return None
    if not d.HasField("session_start_info"):
        return None
    out = {}
    for k, val in d.session_start_info.hparams.items():
        kind = val.WhichOneof("kind")
        if kind == "number_value":
            x = val.number_value
            out[k] = int(x) if x.is_integer() and abs(x) < 2 ** 53 else x
        elif kind in ("string_value", "bool_value"):
            out[k] = getattr(val, kind)
    return out


class TbRunData:
    """What the event files of one run folder hold, merged by step."""

    def __init__(self) -> None:
        self.rows: Dict[int, Tuple[float, dict]] = {}   # step -> (wall time of its last event, {key: value})
        self.config: dict = {}
        self.first_time: Optional[float] = None
        self.last_time: Optional[float] = None
        self.events = 0
        self.values = 0
        self.replaced = 0                 # values written again at the same step (last kept)
        self.skipped: Dict[str, int] = {}  # value kind not imported -> count
        self.damage: List[str] = []


def _kind_of(v) -> str:
    kind = v.WhichOneof("value") or "empty"
    if kind == "tensor" and v.HasField("metadata") and v.metadata.plugin_data.plugin_name:
        return v.metadata.plugin_data.plugin_name
    return kind


def read_run(folder: Path, on_media: Callable, Event=None) -> TbRunData:  # noqa: N803
    """Read every event file of `folder`; media values go through `on_media(key, value)` (which
    stores them and returns their map) as they are met, so images are not held in memory."""
    from ..media.base import Media

    Event = Event or event_class()  # noqa: N806
    data = TbRunData()
    for path in event_files(folder):
        ef = EventFile(path, Event)
        plugins: dict = {}
        for ev in ef.events():
            data.events += 1
            t = float(ev.wall_time)
            if t > 0:
                data.first_time = t if data.first_time is None else min(data.first_time, t)
                data.last_time = t if data.last_time is None else max(data.last_time, t)
            if ev.WhichOneof("what") != "summary":
                continue
            step = int(ev.step)
            for v in ev.summary.value:
                plugin = v.metadata.plugin_data.plugin_name if v.HasField("metadata") else ""
                if plugin == "hparams":
                    hp = _hparams(v)
                    if hp:
                        data.config.update(hp)
                    continue
                try:
                    value = convert_value(v, plugins)
                except Exception:  # noqa: BLE001 - a malformed value: counted as skipped
                    value = None
                if value is None:
                    kind = _kind_of(v) if not plugin else plugin
                    data.skipped[kind] = data.skipped.get(kind, 0) + 1
                    continue
                if isinstance(value, Media):
                    value = on_media(v.tag, value)
                    if value is None:
                        data.skipped["bad media"] = data.skipped.get("bad media", 0) + 1
                        continue
                row_time, row = data.rows.get(step, (t, None))
                if row is None:
                    row = {}
                    data.rows[step] = (t, row)
                elif t > row_time:
                    data.rows[step] = (t, row)
                if v.tag in row:
                    data.replaced += 1
                row[v.tag] = value
                data.values += 1
        name = path.name
        if ef.damage:
            data.damage.append(f"{name}: {ef.damage.split(': ', 1)[-1]}; the events before it were imported")
        elif ef.torn_bytes:
            data.damage.append(f"{name}: the last {ef.torn_bytes} bytes are a torn record (the writer was "
                               "stopped mid-write); the events before it were imported")
        if ef.undecodable:
            data.damage.append(f"{name}: {ef.undecodable} records are not TensorBoard events; skipped")
    return data


def _stored(map_: dict):
    """A media value already stored by `ImportedRun.media`: only its map is kept, not its bytes."""
    from ..media.base import Media, Prepared

    m = Media()
    m._prepared = Prepared(map_)
    return m


def total_bytes(logdir) -> int:
    """The bytes of the event files under `logdir` (what a progress bar counts)."""
    base = Path(os.fspath(logdir)).expanduser()
    return sum(p.stat().st_size for folder in find_runs(base) for p in event_files(folder)) if base.is_dir() else 0


def import_tensorboard(logdir, root_dir: str, *, project: Optional[str] = None,
                       report=None, progress: Optional[Callable[[int], None]] = None):
    """Import every TensorBoard run under `logdir` into `<root_dir>/evlog/`; a run imported before
    (same run id, from its source id) is skipped. Returns the ImportReport; `progress(n)` is given
    the bytes of each run folder's event files once it is done (imported or skipped)."""
    from ..errors import ImportSourceError
    from .newrun import ImportReport, find_imported

    report = report if report is not None else ImportReport()
    base = Path(os.fspath(logdir)).expanduser()
    if not base.is_dir():
        raise ImportSourceError(f"LOGDIR {os.fspath(logdir)!r} is not a folder; give the folder TensorBoard "
                                "reads (the one passed to `tensorboard --logdir`)")
    base = base.resolve()
    Event = event_class()  # noqa: N806
    if Event is None:
        raise ImportSourceError("reading TensorBoard event files needs the tensorboard or tensorboardX package: "
                                "pip install 'evlog[tensorboard]'")
    folders = find_runs(base)
    if not folders:
        report.skip(str(base), "no TensorBoard event files (*.tfevents.*) under it")
    project = project or base.name
    for folder in folders:
        rel = folder.relative_to(base).as_posix()
        name = base.name if rel == "." else rel
        run_id = tb_run_id(base, folder, Event)
        done = find_imported(root_dir, run_id)
        if done is not None:
            report.skip(f"{name} ({folder})", f"imported before as {done}")
        else:
            _import_run(base, folder, name, run_id, root_dir, project, report, Event)
        if progress is not None:
            progress(sum(p.stat().st_size for p in event_files(folder)))
    return report


def _import_run(base: Path, folder: Path, name: str, run_id: str, root_dir: str, project: str, report,
                Event) -> None:  # noqa: N803
    from .newrun import ImportedRun

    files = event_files(folder)
    start = _first_wall_time(files, Event)
    group = folder.relative_to(base).parent.as_posix() if "/" in name else None
    source = {"kind": SOURCE_KIND, "logdir": str(base), "path": folder.relative_to(base).as_posix(),
              "files": [p.name for p in files]}
    with ImportedRun(root_dir, run_id, name=name, project=project, group=group, start_time=start,
                     source=source, report=report) as run:
        def on_media(key, value):
            stored = run.media(key, value)
            return _stored(stored) if stored is not None else None

        data = read_run(folder, on_media, Event)
        if data.config:
            run.config_update(data.config, time=start)
        for step in sorted(data.rows):
            t, row = data.rows[step]
            run.history(step, row, t)
        for kind, n in sorted(data.skipped.items()):
            report.skip(f"{name}: {n} {kind} value{'s' * (n != 1)}", "not imported (evlog imports scalars, "
                        "histograms and images)")
        if data.replaced:
            report.warn(name, f"{data.replaced} values were written again at a step they had (a restarted "
                        "training?): the last one written is kept")
        for d in data.damage:
            report.warn(name, d)
        run.finish(0, data.last_time if data.last_time is not None else start)


def _first_wall_time(files: List[Path], Event) -> float:  # noqa: N803
    """The earliest wall time among the first events of the files (the writer's start); the first
    file's modification time when no file has one."""
    times = []
    for p in files:
        ev = first_event(p, Event)
        if ev is not None and ev.wall_time > 0:
            times.append(float(ev.wall_time))
    if times:
        return min(times)
    return min(p.stat().st_mtime for p in files)
