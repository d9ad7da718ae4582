"""`eventlog.plot` (`wandb.plot`): charts logged as `{"_type": "chart"}` media maps whose data is a
table file (spec/format.md section 7); the dashboard draws each kind.

`line`, `scatter`, `bar` and `histogram` chart columns of an `eventlog.Table`; `line_series`,
`confusion_matrix`, `pr_curve` and `roc_curve` compute their table (with numpy, no sklearn).
Columns are checked when the chart is logged, so that the error names the key.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from .base import Media, MediaError, Prepared, need_module

CHART_KINDS = ("line", "scatter", "bar", "histogram", "confusion_matrix", "pr_curve", "roc_curve", "custom")
MAX_CURVE_POINTS = 1000  # points per class of a ROC curve (evenly thinned beyond)


class Chart(Media):
    """A chart to log (what the `plot.*` functions return): a kind, the table holding its data, the
    columns that play each part (`fields`: e.g. {"x": "epoch", "y": "loss"}) and a title."""

    _type = "chart"

    def __init__(self, kind: str, table: Any, fields: Dict[str, Optional[str]], title: Optional[str] = None,
                 spec: Optional[str] = None) -> None:
        self.kind = kind
        self.spec = spec
        self.table = table
        self.fields = {k: v for k, v in fields.items() if v is not None}
        self.title = title

    def _encode(self, key: str) -> Prepared:
        from .table import Table

        what = f"plot.{self.kind}"
        if not isinstance(self.table, Table):
            raise MediaError(f"key {key!r}: {what} needs an eventlog.Table, got {type(self.table).__name__}")
        if self.title is not None and not isinstance(self.title, str):
            raise MediaError(f"key {key!r}: {what}: title must be a str, got {type(self.title).__name__}")
        columns = self.table.columns
        for part, col in self.fields.items():
            if not isinstance(col, str) or col not in columns:
                raise MediaError(f"key {key!r}: {what}: {part}={col!r} is not a column of the table; its columns "
                                 f"are {columns!r}")
        p = self.table._prepare(key)
        m = {"_type": "chart", "kind": self.kind, "fields": dict(self.fields)}
        if self.title is not None:
            m["title"] = self.title
        if self.spec is not None:
            m["spec"] = self.spec
        m.update((k, p.map[k]) for k in ("sha256", "path", "size", "columns", "nrows"))
        return Prepared(m, p.path, p.data, p.files)  # with the files of media cells

    def __repr__(self) -> str:
        return f"<eventlog.plot.{self.kind} chart>"


# --------------------------------------------------------- charts of a table
def line(table: Any, x: str, y: str, stroke: Optional[str] = None, title: Optional[str] = None,
         split_table: bool = False) -> Chart:
    """A line chart of column `y` against column `x`; with `stroke`, one line per value of that column."""
    return Chart("line", table, {"x": x, "y": y, "stroke": stroke}, title)


def scatter(table: Any, x: str, y: str, title: Optional[str] = None, split_table: bool = False) -> Chart:
    """A scatter plot of column `y` against column `x`."""
    return Chart("scatter", table, {"x": x, "y": y}, title)


def bar(table: Any, label: str, value: str, title: Optional[str] = None, split_table: bool = False) -> Chart:
    """A bar chart: one bar per row, named by column `label`, as high as column `value`."""
    return Chart("bar", table, {"label": label, "value": value}, title)


def histogram(table: Any, value: str, title: Optional[str] = None, split_table: bool = False) -> Chart:
    """A histogram of the numbers of column `value` (binned by the dashboard)."""
    return Chart("histogram", table, {"value": value}, title)


def plot_table(vega_spec_name: str, data_table: Any, fields: Dict[str, str], string_fields: Optional[dict] = None,
               split_table: bool = False) -> Chart:
    """wandb's custom (Vega) chart: stored with its spec name and fields; the dashboard shows its table."""
    title = (string_fields or {}).get("title") if isinstance(string_fields, dict) else None
    return Chart("custom", data_table, dict(fields or {}), title if isinstance(title, str) else None,
                 str(vega_spec_name))


# ------------------------------------------------------- charts computed here
def _np(what: str):
    return need_module("numpy", "numpy", what)


def _array(what: str, name: str, v: Any, numeric: bool = True):
    np = _np(what)
    if type(v).__module__.partition(".")[0] == "torch":
        v = v.detach().cpu().numpy()
    try:
        arr = np.asarray(v, dtype=np.float64 if numeric else None)
    except (TypeError, ValueError) as exc:
        raise MediaError(f"{what}: {name} must be {'numbers' if numeric else 'an array'} ({exc})") from None
    if numeric and not np.isfinite(arr).all():
        raise MediaError(f"{what}: {name} holds NaN or infinite values")
    return arr


def _table(columns: List[str], rows: List[list]):
    from .table import Table

    return Table(columns=columns, data=rows)


def line_series(xs: Sequence, ys: Sequence[Sequence], keys: Optional[Sequence[str]] = None,
                title: Optional[str] = None, xname: Optional[str] = None, split_table: bool = False) -> Chart:
    """Several lines on one chart: `ys` a list of y sequences, `xs` one x sequence for all or one per
    line, `keys` their names (key_0, key_1, ... by default), `xname` the x axis (default "step")."""
    what = "plot.line_series"
    ys = [_array(what, f"ys[{i}]", y) for i, y in enumerate(ys)]
    if not ys or any(y.ndim != 1 for y in ys):
        raise MediaError(f"{what}: ys must be a non-empty list of 1-D sequences of numbers")
    xs_list = list(xs)
    shared = not xs_list or not hasattr(xs_list[0], "__len__") or isinstance(xs_list[0], str)
    xs_all = [_array(what, "xs", xs)] * len(ys) if shared else [_array(what, f"xs[{i}]", x) for i, x in enumerate(xs)]
    if len(xs_all) != len(ys):
        raise MediaError(f"{what}: {len(xs_all)} x sequences for {len(ys)} lines; give one xs for all or one per line")
    keys = [f"key_{i}" for i in range(len(ys))] if keys is None else [str(k) for k in keys]
    if len(keys) != len(ys):
        raise MediaError(f"{what}: {len(keys)} keys for {len(ys)} lines; give one key per line")
    rows = []
    for i, (x, y) in enumerate(zip(xs_all, ys)):
        if x.shape != y.shape:
            raise MediaError(f"{what}: line {keys[i]!r} has {x.size} xs and {y.size} ys; give as many of each")
        rows.extend([float(a), keys[i], float(b)] for a, b in zip(x.tolist(), y.tolist()))
    xcol = xname if isinstance(xname, str) and xname not in ("", "lineKey", "lineVal") else "step"
    return Chart("line", _table([xcol, "lineKey", "lineVal"], rows), {"x": xcol, "y": "lineVal", "stroke": "lineKey"},
                 title)


def confusion_matrix(probs: Any = None, y_true: Any = None, preds: Any = None, class_names: Optional[Sequence] = None,
                     title: Optional[str] = None, split_table: bool = False) -> Chart:
    """The counts of each (actual, predicted) class pair, from `preds` (class indices) or `probs`
    (one row of class scores per sample: the arg max is the prediction), against `y_true`."""
    what = "plot.confusion_matrix"
    np = _np(what)
    if (probs is None) == (preds is None):
        raise MediaError(f"{what}: give either probs= (class scores per sample) or preds= (predicted classes), "
                         "not both or neither")
    if y_true is None:
        raise MediaError(f"{what}: y_true= (the true class of each sample) is required")
    truth = _array(what, "y_true", y_true, numeric=False).ravel()
    if probs is not None:
        p = _array(what, "probs", probs)
        if p.ndim != 2:
            raise MediaError(f"{what}: probs must be samples × classes, got shape {p.shape}")
        guess = p.argmax(axis=1)
    else:
        guess = _array(what, "preds", preds, numeric=False).ravel()
    if guess.size != truth.size:
        raise MediaError(f"{what}: {guess.size} predictions for {truth.size} true labels; give one of each per sample")
    if class_names is not None:
        names = [str(c) for c in class_names]
        n = len(names)
        for name, arr in (("y_true", truth), ("preds", guess)):
            ok = arr.dtype.kind in "iu" or (arr.dtype.kind == "f" and (arr == np.round(arr)).all())
            if not ok or (arr.size and (arr.min() < 0 or arr.max() >= n)):
                raise MediaError(f"{what}: with class_names, {name} must hold class indices 0..{n - 1}")
        ti, gi = truth.astype(np.int64), guess.astype(np.int64)
    else:
        t, g = _class_values(truth), _class_values(guess)
        if not all(isinstance(v, int) for v in t + g):
            t, g = [str(v) for v in t], [str(v) for v in g]
        index = {v: i for i, v in enumerate(sorted(set(t) | set(g)))}
        ti = np.array([index[v] for v in t], np.int64)
        gi = np.array([index[v] for v in g], np.int64)
        n = len(index)
        names = [f"Class_{i + 1}" for i in range(n)]
    counts = np.zeros((n, n), np.int64)
    np.add.at(counts, (ti, gi), 1)
    rows = [[names[i], names[j], int(counts[i, j])] for i in range(n) for j in range(n)]
    return Chart("confusion_matrix", _table(["Actual", "Predicted", "nPredictions"], rows),
                 {"actual": "Actual", "predicted": "Predicted", "value": "nPredictions"},
                 "Confusion Matrix" if title is None else title)


def _class_values(arr) -> list:
    """The values of a label array as Python values, int-valued floats as ints."""
    vals = arr.tolist()
    if arr.dtype.kind == "f" and all(float(v).is_integer() for v in vals):
        return [int(v) for v in vals]
    return vals


def _per_class(what: str, y_true: Any, y_probas: Any, labels: Optional[Sequence], classes_to_plot: Optional[Sequence]):
    """[(class name, binary targets, scores)] for each class to plot (wandb's class order: sorted
    class values of y_true; int classes pick their column, other classes the i-th column)."""
    np = _np(what)
    if y_true is None or y_probas is None:
        raise MediaError(f"{what}: y_true= (the true class of each sample) and y_probas= (samples × classes "
                         "scores) are required")
    truth = _array(what, "y_true", y_true, numeric=False).ravel()
    probas = _array(what, "y_probas", y_probas)
    if probas.ndim == 1:  # binary: the scores of the positive class
        probas = np.stack([1.0 - probas, probas], axis=1)
    if probas.ndim != 2 or probas.shape[0] != truth.size:
        raise MediaError(f"{what}: y_probas must be samples × classes with one row per label of y_true "
                         f"({truth.size}), got shape {probas.shape}")
    classes = np.unique(truth).tolist()
    ints = truth.dtype.kind in "iu"
    if (ints and classes and (classes[0] < 0 or classes[-1] >= probas.shape[1])) or \
            (not ints and len(classes) > probas.shape[1]):
        raise MediaError(f"{what}: y_true holds classes {classes!r} but y_probas has {probas.shape[1]} columns; "
                         "give one column of scores per class")
    wanted = None if classes_to_plot is None else set(np.asarray(classes_to_plot).ravel().tolist())
    out = []
    for i, c in enumerate(classes):
        if wanted is not None and c not in wanted:
            continue
        col = c if ints else i
        name = labels[c] if labels is not None and ints and 0 <= c < len(labels) else \
            (labels[i] if labels is not None and not ints and i < len(labels) else c)
        out.append((str(name), truth == c, probas[:, col]))
    if not out:
        raise MediaError(f"{what}: no class to plot: classes_to_plot {list(classes_to_plot or [])!r} names none of "
                         f"y_true's classes {classes!r}")
    return out


def _counts(target, scores):
    """(true positives, false positives) at each distinct score taken as the threshold, highest first."""
    import numpy as np

    order = np.argsort(-scores, kind="stable")
    s, t = scores[order], target[order]
    last = np.r_[np.nonzero(np.diff(s))[0], s.size - 1]
    tps = np.cumsum(t)[last].astype(np.float64)
    return tps, (last + 1) - tps


def pr_curve(y_true: Any = None, y_probas: Any = None, labels: Optional[Sequence] = None,
             classes_to_plot: Optional[Sequence] = None, interp_size: int = 21, title: Optional[str] = None,
             split_table: bool = False) -> Chart:
    """Precision against recall per class (one vs rest), at `interp_size` recall points in [0, 1]: the
    precision at recall r is the best precision at a recall of r or more (interpolated precision)."""
    what = "plot.pr_curve"
    np = _np(what)
    if isinstance(interp_size, bool) or not isinstance(interp_size, int) or interp_size < 2:
        raise MediaError(f"{what}: interp_size must be an int >= 2, got {interp_size!r}")
    grid = np.linspace(0.0, 1.0, interp_size)
    rows = []
    for name, target, scores in _per_class(what, y_true, y_probas, labels, classes_to_plot):
        tps, fps = _counts(target, scores)
        precision, recall = tps / (tps + fps), tps / tps[-1]
        best = np.maximum.accumulate(precision[::-1])[::-1]  # best precision at this recall or beyond
        at = np.searchsorted(recall, grid - 1e-9, side="left")  # a recall equal to a grid point, despite rounding
        rows.extend([name, round(float(best[j]), 6), round(float(r), 6)] for r, j in zip(grid, at))
    return Chart("pr_curve", _table(["class", "precision", "recall"], rows), {"x": "recall", "y": "precision",
                 "stroke": "class"}, "Precision-Recall Curve" if title is None else title)


def roc_curve(y_true: Any = None, y_probas: Any = None, labels: Optional[Sequence] = None,
              classes_to_plot: Optional[Sequence] = None, title: Optional[str] = None,
              split_table: bool = False) -> Chart:
    """True positive rate against false positive rate per class (one vs rest), from (0, 0) to (1, 1)."""
    what = "plot.roc_curve"
    np = _np(what)
    rows = []
    for name, target, scores in _per_class(what, y_true, y_probas, labels, classes_to_plot):
        tps, fps = _counts(target, scores)
        if fps[-1] == 0:
            raise MediaError(f"{what}: every sample is of class {name!r}: a ROC curve needs samples of another class")
        fpr, tpr = np.r_[0.0, fps / fps[-1]], np.r_[0.0, tps / tps[-1]]
        if fpr.size > MAX_CURVE_POINTS:
            keep = np.unique(np.linspace(0, fpr.size - 1, MAX_CURVE_POINTS).round().astype(np.int64))
            fpr, tpr = fpr[keep], tpr[keep]
        rows.extend([name, round(float(a), 6), round(float(b), 6)] for a, b in zip(fpr, tpr))
    return Chart("roc_curve", _table(["class", "fpr", "tpr"], rows), {"x": "fpr", "y": "tpr", "stroke": "class"},
                 "ROC Curve" if title is None else title)
