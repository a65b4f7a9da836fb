"""A sample of a JSON column's documents and what it shows: each key path, how many rows hold
it, the JSON types seen and a view type, and for an array the keys of its elements (what
`item:` columns read).

The sample is the latest rows of one shard, as `views new` reads them. A shard that cannot be
reached is sampled from the lake's raw days instead (newest day first, the last rows of each),
and the answer says which of the two it came from."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq

from etl_platform.load.lake import Lake
from etl_platform.specs.sources import SourcesSpec
from etl_platform.specs.view_scaffold import sample_paths

#: Latest rows read to sample a JSON column's keys (what `views new` reads).
SAMPLE_ROWS = 500
#: Array elements whose keys are counted, over the whole sample.
SAMPLE_ELEMENTS = 5000


class SampleUnavailable(RuntimeError):
    """Neither the shard nor the lake gave a sample; the message says why for each."""


def key_stats(texts: list[str | None]) -> list[dict[str, Any]]:
    """Per leaf path (as `sample_paths` finds them): rows holding it, JSON types seen, and the
    guessed view type. A document that is not a JSON object counts in `rows` only. A path
    holding arrays also has `items`: the same statistics over the arrays' object elements."""
    guessed = sample_paths(texts)
    counts: Counter[tuple[str, ...]] = Counter()
    kinds: dict[tuple[str, ...], set[str]] = {}
    for doc in _objects(texts, parse_float=Decimal):
        for path in guessed:
            value = _at(doc, path)
            if value is not _MISSING:
                counts[path] += 1
                kinds.setdefault(path, set()).add(_json_kind(value))
    rows = len(texts)
    out = []
    for path, typ in guessed.items():
        stat: dict[str, Any] = {
            "path": ".".join(path),
            "count": counts[path],
            "rows": rows,
            "kinds": sorted(kinds.get(path, ())),
            "type": typ,
            "name": _suggested_name(path),
        }
        if "array" in stat["kinds"]:
            stat["items"] = key_stats(_elements(texts, path))
        out.append(stat)
    return out


_MISSING = object()


def _objects(texts: list[str | None], **options: Any) -> list[dict[str, Any]]:
    out = []
    for text in texts:
        try:
            doc = json.loads(text, **options) if text else None
        except ValueError:
            continue
        if isinstance(doc, dict):
            out.append(doc)
    return out


def _at(doc: Any, path: tuple[str, ...]) -> Any:
    value = doc
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _elements(texts: list[str | None], path: tuple[str, ...]) -> list[str | None]:
    """The object elements of the arrays at `path`, as JSON texts again (numbers as written:
    floats keep their shortest form), at most `SAMPLE_ELEMENTS`."""
    out: list[str | None] = []
    for doc in _objects(texts):
        value = _at(doc, path)
        if isinstance(value, list):
            out.extend(json.dumps(e) for e in value if isinstance(e, dict))
        if len(out) >= SAMPLE_ELEMENTS:
            return out[:SAMPLE_ELEMENTS]
    return out


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _suggested_name(path: tuple[str, ...]) -> str:
    """The last key, as a plain name: the analyst renames it before adding when it clashes."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", path[-1]).strip("_").lower() or "value"
    return name if not name[0].isdigit() else f"c_{name}"


def shard_texts(sources: SourcesSpec, table: str, column: str, shard: str) -> list[str | None]:
    """The scaffold's sample: the latest rows of one shard, read and typed as extraction reads
    them."""
    from etl_platform.extract.connection import endpoint_for
    from etl_platform.extract.introspect import plan_on_shard
    from etl_platform.extract.sample_rows import sample_rows

    spec = sources.tables[table]
    endpoint = endpoint_for(shard, sources.shards[shard])
    plan = plan_on_shard(
        endpoint,
        table,
        cursor=spec.cursor,
        primary_key=spec.primary_key,
        exclude=spec.exclude_columns,
        shard=shard,
        connect_timeout=sources.extract.connect_timeout_seconds,
    )
    rows = sample_rows(endpoint, plan, limit=SAMPLE_ROWS, timezone=sources.shard_timezone(shard))
    frame = pl.from_arrow(rows.select([column]))
    assert isinstance(frame, pl.DataFrame)
    return frame[column].to_list()


def lake_texts(
    lake_root: Path, shard: str, table: str, column: str, limit: int = SAMPLE_ROWS
) -> tuple[list[str | None], list[dt.date]]:
    """At most `limit` values of the column from the shard's raw days in the lake, newest day
    first and the last rows of each day's files (extraction appends in cursor order), and the
    days they came from. Only those rows are read: a slice of the file's last row groups."""
    dataset = Lake(lake_root).raw(shard, table)
    texts: list[str | None] = []
    days: list[dt.date] = []
    for day in sorted(dataset.days_with_files(), reverse=True):
        for path in reversed(dataset.partition_files(day)):
            wanted = limit - len(texts)
            if wanted <= 0:
                return texts, days
            meta = pq.read_metadata(path)
            if column not in meta.schema.to_arrow_schema().names or not meta.num_rows:
                continue
            start = max(0, meta.num_rows - wanted)
            frame = pl.scan_parquet(path, hive_partitioning=False).select(column)
            texts.extend(frame.slice(start, wanted).collect()[column].cast(pl.String).to_list())
            if not days or days[-1] != day:
                days.append(day)
    return texts, days


def sample_json(
    sources: SourcesSpec, lake_root: Path | None, table: str, column: str, shard: str
) -> dict[str, Any]:
    """The key statistics and where the sample came from: the shard, else the lake's raw days
    of that shard. Neither: SampleUnavailable, saying why each failed."""
    try:
        texts = shard_texts(sources, table, column, shard)
    except Exception as e:  # down, refused, a missing URL variable: the lake may still have it
        why = str(e) or type(e).__name__
        try:
            texts, days = lake_texts(lake_root, shard, table, column) if lake_root else ([], [])
        except (OSError, ValueError, pl.exceptions.PolarsError) as lake_error:
            texts, days = [], []
            why += f"; reading the lake failed: {lake_error}"
        if not texts:
            raise SampleUnavailable(
                f"could not sample {table}.{column}: shard {shard} cannot be reached ({why}) "
                f"and the lake has no raw rows of {table} from it"
            ) from None
        span = str(days[0]) if len(days) == 1 else f"{days[-1]} to {days[0]}"
        return {
            "keys": key_stats(texts),
            "shard": shard,
            "from": "lake",
            "source": f"the lake's raw/{shard}/{table}, the last {len(texts)} rows of {span} "
            f"(shard {shard} cannot be reached: {why})",
        }
    return {
        "keys": key_stats(texts),
        "shard": shard,
        "from": "shard",
        "source": f"shard {shard}, the latest {len(texts)} rows by {sources.tables[table].cursor}",
    }
