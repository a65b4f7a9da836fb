"""The rows of a CDC table's day read as one (docs/cdc.md): which version of each key wins.

A change row carries `_op` and `_log_pos`; a batch row carries neither (or nulls), and a null
position is lower than every change. Per key the highest position wins; the same key at the
same position twice is one change written twice (a replay after a crash), kept once.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

OP = "_op"
POS = "_log_pos"
COMMIT_TS = "_commit_ts"
#: The values of `_op`.
INSERT = "insert"
UPDATE = "update"
DELETE = "delete"
MOVE = "move"
#: The columns a change file adds to the table's own.
CHANGE_COLUMNS = (OP, POS, COMMIT_TS)


def latest_per_key(frame: pl.DataFrame, key: Sequence[str]) -> pl.DataFrame:
    """Per `key` the rows at the highest `_log_pos` (null lowest), a replayed change once.

    Rows of a key that has no position at all (batch rows) are all kept, as a batch day keeps
    them: which of those wins is the view's de-duplication's to decide, not the log's. Row
    order is kept.
    """
    key = list(key)
    if POS not in frame.columns:
        return frame
    top = pl.col(POS).max().over(key)
    first_at_position = pl.int_range(pl.len()).over([*key, POS]) == 0
    return frame.filter(
        (pl.col(POS) == top).fill_null(top.is_null()) & (first_at_position | pl.col(POS).is_null())
    )


def visible(frame: pl.DataFrame, *, history: bool) -> pl.DataFrame:
    """The winning rows (`latest_per_key`) a reader sees: a `delete` removes its key; a `move`
    (the version that stood on the day until the row moved to another) is kept with `history`
    and removed without. A frame without `_op` is all batch rows: all kept."""
    if OP not in frame.columns:
        return frame
    hidden = [DELETE] if history else [DELETE, MOVE]
    return frame.filter(~pl.col(OP).is_in(hidden).fill_null(False))
