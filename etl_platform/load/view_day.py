"""A view day written shard by shard, so a day's rows are never all in memory at once."""

from __future__ import annotations

import datetime as dt

import polars as pl

from etl_platform.load.lake import Dataset, DayStats
from etl_platform.transform.conform import conform


class ViewDayWriter:
    """Each shard's finished rows go to the day's file as they come.

    The file takes the first shard's schema. A later shard that adds a column or changes a type
    (flatten's columns follow the data) has the day's file rewritten once with both, merged as
    one `diagonal_relaxed` concat of the whole day would have: same rows, same schema, only
    that day held whole. Empty shards are kept aside (they only bring a schema) and merged at
    the end the same way.
    """

    def __init__(self, dataset: Dataset, day: dt.date) -> None:
        self._file = dataset.open_day(day)
        self._schema: pl.Schema | None = None
        self._empty: list[pl.DataFrame] = []
        self.widened = 0

    def add(self, rows: pl.DataFrame) -> None:
        if rows.height == 0:
            self._empty.append(rows)
            return
        self._put(rows)

    def _put(self, rows: pl.DataFrame) -> None:
        if self._schema is None:
            self._schema = rows.schema
            self._file.write(rows.to_arrow())
            return
        fitted = conform(rows, self._schema)
        if fitted is not None:
            self._file.write(fitted.to_arrow())
            return
        self.widened += 1
        written = pl.from_arrow(self._file.read_back())
        assert isinstance(written, pl.DataFrame)
        merged = pl.concat([written, rows], how="diagonal_relaxed")
        del written
        self._schema = merged.schema
        self._file.restart(merged.to_arrow())

    def commit(self) -> DayStats:
        """Write the empty shards' schema in (the day's file exists even with no rows) and swap
        the day into place."""
        empty, self._empty = self._empty, []
        if self._schema is None and empty:
            self._put(pl.concat(empty, how="diagonal_relaxed"))
        else:
            for frame in empty:
                self._put(frame)
        return self._file.commit()

    def abort(self) -> None:
        self._file.abort()
