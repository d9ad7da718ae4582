"""sync_tensorboard=True: what the program writes to TensorBoard is copied into the run.

Where from: the log dirs of every TensorBoard writer the program opens -- tensorboardX's
`SummaryWriter` and `torch.utils.tensorboard.SummaryWriter` (whose event file writers, from
tensorboardX and the tensorboard package, are patched to tell us their log dir, also for writers
made before init()) -- and any folder given to `eventlog.integrations.tensorboard.watch(logdir)`. Every
`*tfevents*` file under such a folder written since the run started is followed.

How: like the sinks follow the log (a watchdog observer wakes a thread, which also looks every
0.5 s), each file is read from where the last read stopped -- never again from the start -- as
TFRecords (the codec in eventlog/interop/tfevents.py). A record cut at the end of a file is read
once it is whole. The bytes read are appended to a copy of the
file in `<run>/tensorboard/sync/`, so the event files are kept in the run folder.

What: scalars become history values at their step; histograms become `eventlog.Histogram`,
images `eventlog.Image` (animated GIFs -- tensorboardX's videos -- `eventlog.Video`). The key is
the tag; events of log dirs other than the first one learned, and of sub-folders, get the folder
as a prefix (`eval/loss`). Events of one step merge into one history row: a step is written once
every file that is being written has moved past it (a file with no event yet holds back every
step; a file idle for HOLD_SECONDS, or whose writer was closed, none), and at finish. Data for a
step the run has already passed (steps never go back) is logged at the run's current step, with
one warning.
"""
from __future__ import annotations

import os
import sys
import threading
import time
import weakref
from pathlib import Path

# the event-file codec, shared with `evlog import tensorboard`
from ..interop.tfevents import TFRecordTail, convert_value, event_class, masked_crc  # noqa: F401
from ..logfile.segment import LOG_DIR
from ..media.base import MEDIA_DIR
from ..rundir.cursors import SINKS_DIR
from ..rundir.tensorboard import SYNC_DIR, is_program_event_file
from ..util.hashing import file_digest
from ..util.watching import observe

POLL_INTERVAL = 0.5
HOLD_SECONDS = 150.0      # > tensorboardX's default flush_secs (120)
MAX_HELD_STEPS = 10_000   # steps held back at most; older ones are written anyway
MAX_HELD_BYTES = 64 << 20  # encoded images held back at most; older steps are written anyway

_lock = threading.RLock()
_active = None                     # the TensorBoardSync of the current run
_writers = weakref.WeakSet()       # open event file writers (patched classes)
_patched = set()

WRITER_MODULES = ("tensorboardX.event_file_writer", "tensorboard.summary.writer.event_file_writer")


# ------------------------------------------------------------------ follow
class _File:
    def __init__(self, path: str, prefix: str, copy_path: Path) -> None:
        self.path = path
        self.prefix = prefix
        self.copy_path = copy_path
        self.tail = TFRecordTail(path, self._copy)
        self.size = -1
        self.last_step = None
        self.last_growth = time.monotonic()
        self.plugins: dict = {}
        self.closed = False
        self.warned = False

    def _copy(self, data: bytes) -> None:
        if not data:
            return
        self.copy_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.copy_path, "ab") as f:
            f.write(data)


class TensorBoardSync:
    """Follows the TensorBoard event files of one run and logs what they hold into it."""

    def __init__(self, run, poll_interval: float = POLL_INTERVAL, hold_seconds: float = HOLD_SECONDS) -> None:
        self.run = run
        self.folder = os.path.realpath(run.dir)
        self.since = run.start_time - 2.0
        self.poll_interval = poll_interval
        self.hold_seconds = hold_seconds
        self.roots: list = []          # [(real path, key prefix)]
        self.files: dict = {}          # real path -> _File
        self.held: dict = {}           # step -> {key: value}
        self.held_bytes: dict = {}     # step -> bytes of the encoded images held for it
        self.Event = None
        self._state = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._observer = None
        self._late_warned = False
        self._bad_keys: set = set()
        self._failed = None
        self._thread = threading.Thread(target=self._loop, name="evlog-tbsync", daemon=True)

    # --------------------------------------------------------------- roots
    def add_logdir(self, logdir) -> None:
        path = os.path.realpath(os.path.abspath(os.fspath(logdir)))
        with self._state:
            for root, _ in self.roots:
                if path == root or path.startswith(root + os.sep):
                    return
            if not self.roots:
                prefix = ""
            else:
                base = os.path.dirname(self.roots[0][0])
                rel = os.path.relpath(path, base)
                prefix = (rel if not rel.startswith("..") else os.path.basename(path)).replace(os.sep, "/") + "/"
            self.roots.append((path, prefix))
            self._observe(path)
        self._wake.set()

    def _observe(self, path: str) -> None:
        target = path
        while not os.path.isdir(target):  # not made yet: watch the nearest existing parent
            parent = os.path.dirname(target)
            if parent == target:
                return
            target = parent
        observer = observe(target, self._wake.set, kinds=("modified", "created", "moved", "closed"),
                           recursive=True, observer=self._observer)
        if observer is not None:  # None: inotify limits and the like, polling still works
            self._observer = observer

    def _scan(self) -> None:
        # a log dir may be the run folder itself: never walk our copies (the sink's files end in
        # .evlog), the log, the media or the sinks' state
        skip = tuple(os.path.join(self.folder, *d.split("/")) + os.sep
                     for d in (SYNC_DIR, LOG_DIR, MEDIA_DIR, SINKS_DIR))
        for root, prefix in list(self.roots):
            if not os.path.isdir(root):
                continue
            for dirpath, dirnames, filenames in os.walk(root):
                if (dirpath + os.sep).startswith(skip):
                    dirnames[:] = []
                    continue
                for name in filenames:
                    if not is_program_event_file(name):
                        continue
                    path = os.path.join(dirpath, name)
                    if path in self.files:
                        continue
                    try:
                        if os.path.getmtime(path) < self.since:
                            continue  # written before the run: not ours
                    except OSError:
                        continue
                    rel = os.path.relpath(dirpath, root)
                    sub = "" if rel == "." else rel.replace(os.sep, "/") + "/"
                    copy = Path(self.folder) / SYNC_DIR / (prefix + sub) / name
                    self.files[path] = _File(path, prefix + sub, copy)

    # ---------------------------------------------------------------- loop
    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_interval)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.poll()
            except Exception as exc:  # noqa: BLE001 - keep following; say it once
                if self._failed is None:
                    self._failed = exc
                    sys.stderr.write(f"evlog: sync_tensorboard: {type(exc).__name__}: {exc}\n")

    def poll(self, final: bool = False) -> None:
        with self._state:
            if self.Event is None:
                self.Event = event_class()
                if self.Event is None:
                    raise RuntimeError("reading TensorBoard event files needs the tensorboard or tensorboardX "
                                       "package: pip install 'evlog[tensorboard]'")
            self._scan()
            now = time.monotonic()
            for f in list(self.files.values()):
                try:
                    size = os.path.getsize(f.path)
                except OSError:
                    continue
                if size != f.size:
                    f.size = size
                    f.last_growth = now
                    for payload in f.tail.read():
                        self._take(f, payload)
                if f.tail.broken and not f.warned:
                    f.warned = True
                    sys.stderr.write(f"evlog: sync_tensorboard: {f.tail.broken}\n")
            self._commit(final)

    def _take(self, f: _File, payload: bytes) -> None:
        try:
            ev = self.Event.FromString(payload)
        except Exception:  # noqa: BLE001 - not an Event: skip the record
            return
        if ev.WhichOneof("what") != "summary":
            return
        step = int(ev.step)
        row = None
        for v in ev.summary.value:
            try:
                value = convert_value(v, f.plugins)
            except Exception:  # noqa: BLE001
                value = None
            if value is None:
                continue
            if row is None:
                row = self.held.setdefault(step, {})
            row[f.prefix + v.tag] = value
            encoded = getattr(value, "_encoded", None)
            if encoded:
                self.held_bytes[step] = self.held_bytes.get(step, 0) + len(encoded)
        if row is not None and (f.last_step is None or step > f.last_step):
            f.last_step = step

    def _commit(self, final: bool) -> None:
        if not self.held:
            return
        steps = sorted(self.held)
        if not final:
            now = time.monotonic()
            # a file still being written holds back the steps from its last one on (a file with no
            # event yet: every step), unless closed or idle for hold_seconds
            marks = [f.last_step if f.last_step is not None else -1 for f in self.files.values()
                     if not f.closed and not f.tail.broken and now - f.last_growth < self.hold_seconds]
            if marks:
                limit = min(marks)
                ready = [s for s in steps if s < limit]
                extra = len(steps) - len(ready) - MAX_HELD_STEPS
                if extra > 0:
                    ready = steps[:len(ready) + extra]
                held = sum(self.held_bytes.values()) - sum(self.held_bytes.get(s, 0) for s in ready)
                while held > MAX_HELD_BYTES and len(ready) < len(steps):
                    held -= self.held_bytes.get(steps[len(ready)], 0)
                    ready = steps[:len(ready) + 1]
                steps = ready
        for s in steps:
            self.held_bytes.pop(s, None)
            self._log(s, self.held.pop(s))

    def _log(self, step: int, data: dict) -> None:
        from ..errors import RunFinishedError
        from ..media.base import Media, MediaError

        for k in list(data):  # bad media from the files (a corrupt image): skip that value
            v = data[k]
            if isinstance(v, Media):
                try:
                    v._prepare(k)
                except MediaError as exc:
                    del data[k]
                    if k not in self._bad_keys:
                        self._bad_keys.add(k)
                        sys.stderr.write(f"evlog: sync_tensorboard: {exc}; skipped\n")
        if not data:
            return
        run = self.run
        port = run._port()
        try:
            if step > run.step or (step == run.step and not port.holds(data)):
                run.log(data, step=step, commit=True)
            else:
                if not self._late_warned:
                    self._late_warned = True
                    msg = (f"sync_tensorboard: TensorBoard data for step {step} arrived after the run reached step "
                           f"{run.step} (steps never go back); it is logged at the current step")
                    port.warn(msg, data)
                if port.holds(data):
                    run.log({}, commit=True)  # never overwrite a value already held for this step
                run.log(data, commit=False)
        except RunFinishedError:
            self._stop.set()

    # ---------------------------------------------------------------- stop
    def stop(self, timeout: float = 30.0) -> None:
        """Flush the program's writers, read everything written, log what is held, keep the copies."""
        global _active
        for w in list(_writers):
            try:
                if not _is_closed(w):
                    w.flush()
            except Exception:  # noqa: BLE001
                pass
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._observer is not None:
            try:
                self._observer.stop()
                self._observer.join(2.0)
            except Exception:  # noqa: BLE001
                pass
        try:
            self.poll(final=True)
        finally:
            with _lock:
                if _active is self:
                    _active = None
        self._announce_copies()

    def _announce_copies(self) -> None:
        entries = []
        for f in self.files.values():
            p = f.copy_path
            if not p.is_file():
                continue
            digest, size = file_digest(p)
            rel = os.path.relpath(p, self.folder).replace(os.sep, "/")
            entries.append({"path": rel, "sha256": digest, "size": size, "kind": "other"})
        if not entries:
            return
        self.run._port().append("files", {"files": entries})

    def writer_closed(self, logdir) -> None:
        """A patched writer was closed: its files no longer hold steps back."""
        path = os.path.realpath(os.path.abspath(os.fspath(logdir)))
        with self._state:
            for f in self.files.values():
                if os.path.dirname(f.path) == path:
                    f.closed = True
        self._wake.set()


# ------------------------------------------------------------------ patches
def _writer_opened(writer, logdir) -> None:
    _writers.add(writer)
    sync = _active
    if sync is not None and logdir:
        sync.add_logdir(logdir)


def _writer_closed(writer, logdir) -> None:
    _writers.discard(writer)
    sync = _active
    if sync is not None and logdir:
        sync.writer_closed(logdir)


def _logdir_of(writer):
    get = getattr(writer, "get_logdir", None)
    try:
        return get() if callable(get) else getattr(writer, "_logdir", None)
    except Exception:  # noqa: BLE001
        return None


def _patch_writer_module(module) -> None:
    cls = getattr(module, "EventFileWriter", None)
    if cls is None or cls in _patched:
        return
    _patched.add(cls)
    orig_init, orig_close = cls.__init__, cls.close
    orig_reopen = getattr(cls, "reopen", None)

    def __init__(self, logdir, *args, **kwargs):
        orig_init(self, logdir, *args, **kwargs)
        _writer_opened(self, _logdir_of(self) or logdir)

    def close(self):
        try:
            return orig_close(self)
        finally:
            _writer_closed(self, _logdir_of(self))

    __init__.__wrapped__ = orig_init
    close.__wrapped__ = orig_close
    cls.__init__ = __init__
    cls.close = close
    if orig_reopen is not None:
        def reopen(self):
            out = orig_reopen(self)
            _writer_opened(self, _logdir_of(self))
            return out

        reopen.__wrapped__ = orig_reopen
        cls.reopen = reopen


def _is_closed(writer) -> bool:
    if getattr(writer, "_closed", False):
        return True
    return bool(getattr(getattr(writer, "_async_writer", None), "_closed", False))


def install_patches() -> None:
    """Patch the event file writer classes: now if their module is imported (then find the writers
    made before, once), else as soon as it is."""
    from ..util.postimport import when_imported

    for name in WRITER_MODULES:
        module = sys.modules.get(name)
        if module is None:
            when_imported(name, _patch_writer_module)
            continue
        cls = getattr(module, "EventFileWriter", None)
        if cls is None or cls in _patched:
            continue
        _patch_writer_module(module)
        import gc

        for obj in gc.get_objects():
            if type(obj) is cls and not _is_closed(obj):
                _writer_opened(obj, _logdir_of(obj))


# ---------------------------------------------------------------------- API
def start(run) -> TensorBoardSync:
    """Start following TensorBoard writes for `run` (init(sync_tensorboard=True))."""
    global _active
    sync = TensorBoardSync(run)
    with _lock:
        old = _active
        _active = sync
    if old is not None and old is not sync:
        old.stop()
    install_patches()
    for w in list(_writers):
        if not _is_closed(w):
            d = _logdir_of(w)
            if d:
                sync.add_logdir(d)
    sync.start()
    return sync


def watch(logdir) -> None:
    """Follow the TensorBoard event files under `logdir` (written since the run started) too."""
    sync = _active
    if sync is None:
        from ..errors import NoRunError

        raise NoRunError("eventlog.integrations.tensorboard.watch() needs a run started with sync_tensorboard=True (or magic)")
    sync.add_logdir(logdir)


def patch(root_logdir=None, **_ignored) -> None:
    """wandb.tensorboard.patch() compatibility: follow `root_logdir` (writers are patched anyway)."""
    if root_logdir is not None:
        watch(root_logdir)
