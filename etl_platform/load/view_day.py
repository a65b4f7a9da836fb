"""A view day written shard by shard, so a day's rows are never all in memory at once."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pyarrow as pa

from etl_platform.load.lake import Dataset, DayStats
from etl_platform.transform.conform import conform

#: Rows (or Arrow bytes) of finished shards held before they are written as a row group: small
#: shards share a row group, a shard of this size or more is written on its own. The bytes bound
#: is what a day in flight holds here, so it is kept at about one shard-day of a wide view.
#: Athena does not read these files: its destination writes its own, with larger row groups.
ROW_GROUP_ROWS = 64_000
ROW_GROUP_BYTES = 8 * 2**20


class ViewDayWriter:
    """Each shard's finished rows go to the day's file as they come, in shard order.

    The file takes the first shard's schema (an empty shard's too, which shapes the columns
    even though a day of no rows leaves no file). A later shard that adds a
    column or changes a type (flatten's columns follow the data) has what was written so far
    read back and merged with it, as one `diagonal_relaxed` concat of the whole day would have
    done: same rows, same columns in the same order, same types; only such a day is held
    whole, once. Shards that fit are held until a row group's worth and then written.

    What is held is Arrow, converted as each shard comes (its polars frame is then let go): a
    row group is the held tables' chunks written as they are. Holding polars frames and
    concatenating them at the flush would copy up to a row group's rows twice more, at the
    view's peak memory.
    """

    def __init__(
        self,
        dataset: Dataset,
        day: dt.date,
        *,
        row_group_rows: int = ROW_GROUP_ROWS,
        row_group_bytes: int = ROW_GROUP_BYTES,
    ) -> None:
        self._file = dataset.open_day(day)
        self._schema: pl.Schema | None = None
        self._held: list[pa.Table] = []  # rows of `_schema` not written yet
        self._held_rows = self._held_bytes = 0
        self._row_group_rows, self._row_group_bytes = row_group_rows, row_group_bytes
        self.widened = 0

    @property
    def schema(self) -> pl.Schema | None:
        """The day's schema so far: what the file will have if no later shard widens it."""
        return self._schema

    def add(self, rows: pl.DataFrame) -> None:
        if self._schema is None:
            self._schema = rows.schema
            self._hold(rows)
            return
        fitted = conform(rows, self._schema)
        if fitted is None:
            self._widen(rows)
        elif fitted.height:
            self._hold(fitted)

    def _hold(self, rows: pl.DataFrame) -> None:
        table = rows.to_arrow()
        self._held.append(table)
        self._held_rows += table.num_rows
        self._held_bytes += table.nbytes
        if self._held_rows >= self._row_group_rows or self._held_bytes >= self._row_group_bytes:
            self._flush()

    def _flush(self) -> None:
        if not self._held:
            return
        held = self._held[0] if len(self._held) == 1 else pa.concat_tables(self._held)
        self._held, self._held_rows, self._held_bytes = [], 0, 0
        self._file.write(held)  # one row group across the tables' chunks, no copy

    def _widen(self, rows: pl.DataFrame) -> None:
        self.widened += 1
        parts = [pl.DataFrame(pl.from_arrow(table)) for table in self._held]
        in_file = self._file.schema is not None
        if in_file:  # some rows are in the file already: read them back
            parts.insert(0, pl.DataFrame(pl.from_arrow(self._file.read_back())))
        merged = pl.concat([*parts, rows], how="diagonal_relaxed")
        del parts
        self._held, self._held_rows, self._held_bytes = [], 0, 0
        self._schema = merged.schema
        if in_file:
            self._file.restart(merged.to_arrow())
        else:
            self._hold(merged)

    def commit(self) -> DayStats:
        """Write what is held and swap the day into place; a day of no rows (empty shards, or
        none) leaves no file and is listed as written empty."""
        self._flush()
        return self._file.commit()

    def abort(self) -> None:
        self._file.abort()
