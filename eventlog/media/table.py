"""`Table`: columns and rows of values and media, stored as a JSON file `media/<sha256>.json`."""
from __future__ import annotations

from ..errors import LogValueError
from .base import Media, MediaError, Prepared, _file_map
from .batch import MediaBatch

MAX_TABLE_ROWS = 100_000
MAX_TABLE_COLUMNS = 1000



class Table(Media):
    """A table to log: `eventlog.Table(columns=["id", "guess", "truth"], data=[[0, "cat", "dog"], ...])`,
    rows added with `table.add_data(1, "dog", "dog")`, or `eventlog.Table(dataframe=df)` (pandas).

    Cells are None, bool, int, float (NaN and infinities kept), str, numpy/torch scalars, lists of
    those (and arrays, as log() takes them), and media values (Image, Video, Histogram, Audio, ...:
    any `Media` but a Table), as Lightning's and accelerate's `log_table` put `wandb.Image` in them.
    The table is stored as a JSON file (`{"columns": [...], "data": [[...], ...]}`, non-finite floats
    as "NaN", "Infinity", "-Infinity", a media cell as its media map, its file stored as log()
    stores it) named by its hash; the record holds
    `{"_type": "table", "sha256", "path", "size", "columns", "nrows"}`. At most 100,000 rows and
    1,000 columns.
    """

    _type = "table"

    def __init__(self, columns=None, data=None, rows=None, dataframe=None) -> None:
        self._columns = columns
        self._rows = [list(r) for r in (data if data is not None else rows or [])] if dataframe is None else None
        self._dataframe = dataframe

    @property
    def columns(self) -> list:
        if self._dataframe is not None:
            return [str(c) for c in self._dataframe.columns]
        if self._columns is not None:
            return list(self._columns)
        return [str(i) for i in range(len(self._rows[0]))] if self._rows else []

    @property
    def data(self) -> list:
        """The rows (lists of cells), as given."""
        if self._dataframe is not None:
            return [list(r) for r in self._dataframe.itertuples(index=False, name=None)]
        return [list(r) for r in self._rows]

    def add_data(self, *row) -> None:
        """Append one row (a cell per column)."""
        if self._dataframe is not None:
            raise MediaError("Table.add_data: this table is a dataframe's; add rows to the dataframe")
        self._rows.append(list(row))
        self._prepared = None  # logged again, the table is encoded again

    def _encode(self, key: str) -> Prepared:
        from ..rundir.export import json_text
        from ..values import normalize_log_value

        columns = self.columns
        if not all(isinstance(c, str) and c for c in columns):
            raise MediaError(f"key {key!r}: Table columns must be non-empty str, got {columns!r}")
        if len(set(columns)) != len(columns):
            raise MediaError(f"key {key!r}: Table columns must differ, got {columns!r}")
        if len(columns) > MAX_TABLE_COLUMNS:
            raise MediaError(f"key {key!r}: Table has {len(columns)} columns; at most {MAX_TABLE_COLUMNS}")
        rows = self.data
        if len(rows) > MAX_TABLE_ROWS:
            raise MediaError(f"key {key!r}: Table has {len(rows)} rows; at most {MAX_TABLE_ROWS}: log a sample")
        out = []
        batch = MediaBatch()  # the files of media cells, stored with the table by the log() call

        def cell_media(where: str, value: Media) -> dict:
            if isinstance(value, Table):
                raise MediaError(f"key {where!r}: a Table cell holding a Table; log the inner table under a key "
                                 "of its own")
            return batch(where, value)

        for i, row in enumerate(rows):
            if len(row) != len(columns):
                raise MediaError(f"key {key!r}: Table row {i} has {len(row)} cells for {len(columns)} columns "
                                 f"{columns!r}")
            cells = []
            for col, v in zip(columns, row):
                if isinstance(v, dict):
                    raise MediaError(f"key {key!r}: Table row {i}, column {col!r}: a {type(v).__name__} cell; "
                                     "cells hold numbers, str, bools, None, lists of those, or media values")
                try:
                    cells.append(normalize_log_value(f"{key}[{i}][{col}]", v, 0, cell_media))
                except MediaError:
                    raise
                except LogValueError as exc:
                    raise MediaError(str(exc)) from None
            out.append(cells)
        raw = json_text({"columns": columns, "data": out}).encode()  # non-finite floats as "NaN", ...
        p = _file_map("table", raw, "json", columns=columns, nrows=len(out))
        p.files = batch.files or None
        return p
