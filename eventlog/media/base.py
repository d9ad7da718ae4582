"""What every media value shares, and the one that values.py makes itself: the `Media` base class,
`MediaError`, `Prepared`, the file and numpy helpers, and `Histogram` (an array of more than 32
values is logged as one). Below eventlog/values, which recognises media values, and eventlog/media,
whose Table cells are normalised by values and whose audio.py and html.py need only this;
eventlog.media exports all of it."""
from __future__ import annotations

import math
import os

from ..errors import LogValueError

MEDIA_DIR = "media"
MAX_BINS = 512
DEFAULT_BINS = 64


class MediaError(LogValueError, ValueError):
    """A media value (`Image`, `Histogram`, `Video`) cannot be stored: wrong shape or values, an
    unreadable file, a missing optional library. The message names the key; nothing of that
    `log()` call was written (a LogValueError, so also a TypeError, and a ValueError)."""

    __module__ = "eventlog.media"  # its public name (tracebacks, pickles)


class Prepared:
    """A checked and encoded media value: the map for the record, the file to store (if any), and
    the files of media it holds (`files`, path -> bytes: a Table's image cells)."""

    __slots__ = ("map", "path", "data", "files")

    def __init__(self, map_, path=None, data=None, files=None) -> None:
        self.map = map_
        self.path = path
        self.data = data
        self.files = files


def need_module(module: str, library: str, what: str, key=None):
    """`module` imported, or MediaError saying that `what` (for `key`, when given) needs `library`."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        where = f"key {key!r}: " if key is not None else ""
        raise MediaError(f"{where}{what} needs {library}, which is not installed; "
                         "install it with: pip install 'evlog[media]'") from None


def _need_numpy(key, what):
    return need_module("numpy", "numpy", what, key)


def _root_module(v) -> str:
    return (type(v).__module__ or "").partition(".")[0]


def _as_array(key, what, v):
    """numpy array of an array-like (numpy, torch tensor, nested lists)."""
    np = _need_numpy(key, what)
    if _root_module(v) == "torch":
        try:
            v = v.detach().cpu().numpy()
        except Exception as exc:  # noqa: BLE001
            raise MediaError(f"key {key!r}: {what}: cannot convert the tensor to numpy ({exc})") from None
    try:
        return np.asarray(v)
    except Exception as exc:  # noqa: BLE001 - ragged lists and the like
        raise MediaError(f"key {key!r}: {what}: cannot convert {type(v).__name__} to an array ({exc})") from None


def _file_map(kind: str, data: bytes, ext: str, **fields) -> Prepared:
    import hashlib  # not at import: `import eventlog` stays light

    sha = hashlib.sha256(data).hexdigest()
    path = f"{MEDIA_DIR}/{sha}.{ext}"
    m = {"_type": kind, "sha256": sha, "path": path, "size": len(data)}
    m.update((k, v) for k, v in fields.items() if v is not None)
    return Prepared(m, path, data)


def _caption(key, caption):
    if caption is not None and not isinstance(caption, str):
        raise MediaError(f"key {key!r}: caption must be a str, got {type(caption).__name__}")
    return caption


def _read_file(key, what, path) -> bytes:
    p = os.fspath(path)
    try:
        with open(p, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise MediaError(f"key {key!r}: {what}: no such file {p}") from None
    except IsADirectoryError:
        raise MediaError(f"key {key!r}: {what}: {p} is a folder, not a file") from None
    except OSError as exc:
        raise MediaError(f"key {key!r}: {what}: cannot read {p} ({exc.strerror or exc})") from None


class Media:
    """Base class of media values (`Image`, `Histogram`, `Video`)."""

    __module__ = "eventlog.media"  # its public name (tracebacks, pickles)

    _type = ""
    _prepared = None

    def _prepare(self, key: str) -> Prepared:
        if self._prepared is None:
            self._prepared = self._encode(key)
        return self._prepared

    def _encode(self, key: str) -> Prepared:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<eventlog.{type(self).__name__}>"


class Histogram(Media):
    """A histogram to log: `eventlog.Histogram(values, num_bins=64)` or
    `eventlog.Histogram(np_histogram=(counts, edges))`.

    Stored in the record as `{"_type": "histogram", "bins": [edges...], "counts": [...]}`
    (len(bins) == len(counts) + 1). Values must be finite; at most 512 bins.
    """

    __module__ = "eventlog.media"  # its public name (tracebacks, pickles)

    _type = "histogram"

    def __init__(self, sequence=None, np_histogram=None, num_bins=DEFAULT_BINS) -> None:
        self._sequence = sequence
        self._np_histogram = np_histogram
        self._num_bins = num_bins

    def _encode(self, key: str) -> Prepared:
        nb = self._num_bins
        if isinstance(nb, bool) or not isinstance(nb, int) or not 1 <= nb <= MAX_BINS:
            raise MediaError(f"key {key!r}: Histogram num_bins must be an int in 1..{MAX_BINS}, got {nb!r}")
        if (self._sequence is None) == (self._np_histogram is None):
            raise MediaError(f"key {key!r}: Histogram needs either a sequence of values or np_histogram="
                             "(counts, bin_edges), not both or neither")
        if self._np_histogram is not None:
            counts, edges = self._bins(key, self._np_histogram)
        else:
            arr = _as_array(key, "Histogram", self._sequence)
            np = _need_numpy(key, "Histogram")
            if arr.dtype.kind not in "biuf":
                raise MediaError(f"key {key!r}: Histogram: values of dtype {arr.dtype} are not numbers")
            arr = arr.astype(np.float64).ravel()
            if arr.size == 0:
                raise MediaError(f"key {key!r}: Histogram of no values; give at least one value")
            bad = int((~np.isfinite(arr)).sum())
            if bad:
                raise MediaError(f"key {key!r}: Histogram: {bad} of {arr.size} values are NaN or infinite")
            c, e = np.histogram(arr, bins=nb)
            counts, edges = [int(x) for x in c], [float(x) for x in e]
        return Prepared({"_type": "histogram", "bins": edges, "counts": counts})

    @staticmethod
    def _bins(key, hist):
        try:
            counts, edges = hist
            counts = [counts[i] for i in range(len(counts))]
            edges = [edges[i] for i in range(len(edges))]
        except Exception:  # noqa: BLE001
            raise MediaError(f"key {key!r}: Histogram np_histogram must be a pair (counts, bin_edges) like "
                             "numpy.histogram() returns") from None
        if not counts or len(edges) != len(counts) + 1:
            raise MediaError(f"key {key!r}: Histogram np_histogram: {len(counts)} counts need {len(counts) + 1} bin "
                             f"edges, got {len(edges)}")
        if len(counts) > MAX_BINS:
            raise MediaError(f"key {key!r}: Histogram has {len(counts)} bins; at most {MAX_BINS}")
        out_c, out_e = [], []
        for c in counts:
            try:
                f = float(c)
            except (TypeError, ValueError):
                raise MediaError(f"key {key!r}: Histogram count {c!r} is not a number") from None
            if not math.isfinite(f) or f < 0:
                raise MediaError(f"key {key!r}: Histogram counts must be finite and >= 0, got {c!r}")
            out_c.append(int(f) if f.is_integer() else f)
        for e in edges:
            try:
                f = float(e)
            except (TypeError, ValueError):
                raise MediaError(f"key {key!r}: Histogram bin edge {e!r} is not a number") from None
            if not math.isfinite(f):
                raise MediaError(f"key {key!r}: Histogram bin edges must be finite, got {e!r}")
            if out_e and f <= out_e[-1]:
                raise MediaError(f"key {key!r}: Histogram bin edges must increase, got {out_e[-1]!r} then {f!r}")
            out_e.append(f)
        return out_c, out_e
