"""A view day's raw rows in bounded slices across shards, so a day in flight holds one slice."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import polars as pl

#: Rows of a day read and shaped at a time, across shards: the JSON pass's memory follows a
#: slice's rows, and small shards still share one pass.
SLICE_ROWS = 16_000
#: Rows of a shard's raw files read at a time: a frame cut where a slice fills stays whole in
#: memory while either part is held, so frames of a quarter slice keep that rest small.
READ_ROWS = SLICE_ROWS // 4


def raw_slices(
    shards: Sequence[str], read: Callable[[str], Iterator[pl.DataFrame]], rows: int = SLICE_ROWS
) -> Iterator[dict[str, pl.DataFrame]]:
    """The shards' raw rows of one day in slices of at most `rows`, {shard: its next rows},
    every shard present at least once (a shard's empty day still brings its schema).

    A frame that would overfill a slice is cut, so a slice never spans more than `rows`.
    """
    if rows < 1:
        raise ValueError(f"rows: {rows}; a slice needs at least one row")
    pending: dict[str, list[pl.DataFrame]] = {}
    held = 0
    for shard in shards:
        for frame in read(shard):
            rest: pl.DataFrame | None = frame
            del frame
            while rest is not None:
                room = rows - held
                part, rest = (
                    (rest, None) if rest.height <= room else (rest.slice(0, room), rest.slice(room))
                )
                pending.setdefault(shard, []).append(part)
                held += part.height
                del part  # held by `pending` alone: let go with it
                if held == rows:
                    out = _concat_pending(pending)
                    pending, held = {}, 0
                    yield out
                    del out  # the consumer is done with it: do not hold it while reading on
    if pending:
        yield _concat_pending(pending)


def _concat_pending(pending: dict[str, list[pl.DataFrame]]) -> dict[str, pl.DataFrame]:
    return {
        shard: frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")
        for shard, frames in pending.items()
    }
