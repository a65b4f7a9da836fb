"""Shape one shard's day of a driving table into view rows: the whole view pipeline, pure.

Order matters: typed columns first (JSON paths and source columns), then the explode (so item
columns exist), the dedupe (the unique key is made of those), then lookups (which may join on
item columns), flatten, and the output columns in their declared order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence

import polars as pl
import pyarrow as pa

from etl_platform.errors import ColumnMissing
from etl_platform.specs.views import ViewSpec
from etl_platform.transform.dedupe import dedupe_latest
from etl_platform.transform.drift import json_key_drift
from etl_platform.transform.dtypes import parse_type, storage_dtype
from etl_platform.transform.enrich import enrich
from etl_platform.transform.explode import ElementField, explode_json_array
from etl_platform.transform.flatten import flatten_json
from etl_platform.transform.json_fields import JsonField, extract_json_fields
from etl_platform.transform.texts import copied_texts
from etl_platform.transform.typed_casts import Cast, cast_with_rejects

SHARD, CURSOR, RUN_ID = "_shard", "_updated_at", "_run_id"
#: Rows of each shard's day that the JSON key-drift report looks at (evenly spaced).
DRIFT_SAMPLE_ROWS = 200
#: Rows per JSON pass: bounds the memory of the row-by-row half whatever the size of a day.
CHUNK_ROWS = 100_000


@dataclasses.dataclass
class ShardStats:
    """The balance of one shard's day: rows in = rows out + rejects + duplicates.

    An exploded view balances its elements instead: elements = rows out + duplicates (elements
    and parents that were rejected never became elements).
    """

    rows_in: int = 0
    rejected: int = 0
    duplicates: int = 0
    rows_out: int = 0
    elements: int = 0
    #: Rows set aside after dedupe (inner lookups, looked-up and computed types, required
    #: columns); counted in `rejected` too.
    dropped: int = 0
    orphans: dict[str, int] = dataclasses.field(default_factory=dict)

    def balanced(self, exploded: bool) -> bool:
        if exploded:
            return self.elements == self.rows_out + self.duplicates + self.dropped
        return self.rows_in == self.rows_out + self.rejected + self.duplicates


@dataclasses.dataclass
class Shaped:
    rows: pl.DataFrame
    rejects: pl.DataFrame
    stats: ShardStats
    drift_sample: dict[str, pl.Series]
    flattened: list[str]


def drift_known_paths(spec: ViewSpec) -> dict[str, set[tuple[str, ...]]]:
    """The JSON columns whose unknown keys are reported, with the paths the view reads."""
    known: dict[str, set[tuple[str, ...]]] = {}
    for c in spec.columns.values():
        if c.json_column and c.path:
            known.setdefault(c.json_column, set()).add(tuple(c.path.split(".")))
    if spec.explode:
        known.setdefault(spec.explode.json_column, set()).add(tuple(spec.explode.path.split(".")))
    flattened = {f.json_column for f in spec.flatten}
    return {column: paths for column, paths in known.items() if column not in flattened}


def window_drift(spec: ViewSpec, samples: Mapping[str, Sequence[pl.Series]]) -> dict:
    """{JSON column: {unknown key path: sampled rows having it}} over a run's samples."""
    drift = {}
    for column, paths in drift_known_paths(spec).items():
        if not samples.get(column):
            continue
        frame = pl.DataFrame({column: pl.concat(list(samples[column]))})
        if found := json_key_drift(frame, column, known_paths=paths):
            drift[column] = found
    return drift


def declared_schema(spec: ViewSpec) -> dict[str, pl.DataType]:
    """Declared columns with their types, in output order (without flatten's)."""
    out = {name: storage_dtype(parse_type(col.type)) for name, col in spec.columns.items()}
    if spec.explode:
        out[spec.explode.index_column] = pl.Int32()
    return out


def declared_arrow_schema(spec: ViewSpec, lookup_types: Mapping[str, pa.DataType]) -> pa.Schema:
    """The view's columns before any data: declared, looked up, and the platform's (flatten's
    columns depend on the data and are added as they appear)."""
    frame = pl.DataFrame(schema=declared_schema(spec))
    fields = list(frame.to_arrow().schema)
    typed = {out: type_ for lk in spec.lookups for out, type_ in lk.typed.items()}
    typed_frame = pl.DataFrame(schema={o: storage_dtype(parse_type(t)) for o, t in typed.items()})
    typed_fields = {f.name: f.type for f in typed_frame.to_arrow().schema}
    fields += [
        pa.field(out, typed_fields[out] if out in typed else lookup_types[out])
        for lk in spec.lookups
        for out in lk.outputs.values()
    ]
    fields += [
        pa.field(SHARD, pa.string()),
        pa.field(CURSOR, pa.timestamp("us", tz="UTC")),
        pa.field(RUN_ID, pa.string()),
    ]
    return pa.schema(fields)


def _cast_source_columns(
    df: pl.DataFrame, spec: ViewSpec, key: Sequence[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`from:` columns cast to their declared type; a value the cast would change is a reject
    naming the source column and its raw value."""
    casts = [
        Cast(name, c.from_, storage_dtype(parse_type(c.type)), c.from_)
        for name, c in spec.columns.items()
        if c.from_
    ]
    return cast_with_rejects(df, casts, key)


def columns_kept(spec: ViewSpec, primary_key: Sequence[str]) -> list[str]:
    """What the per-shard half reads after the row-by-row half: the declared columns, the
    source key (rejects name rows by it), lookup keys, the JSON that explode and flatten
    still read, and the platform's. The rest of the raw row, its JSON text above all, is
    dropped there: nothing derived from it is left to compute."""
    kept = [*spec.columns, *primary_key, *(c for lk in spec.lookups for c in lk.view_columns)]
    if spec.explode:
        kept.append(spec.explode.json_column)
    kept += [flat.json_column for flat in spec.flatten]
    return list(dict.fromkeys([*kept, SHARD, CURSOR]))


def shape_rows(
    spec: ViewSpec, raw: pl.DataFrame, *, primary_key: Sequence[str], cursor: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The row-by-row half of a view (JSON paths, source casts) on rows of any shards.

    `raw` carries `_shard`. Nothing here depends on other rows, so a day's shards are shaped in
    one pass (one JSON read for all of them) before each shard is finished on its own. Only
    `columns_kept` come out.
    """
    df = raw.with_columns(pl.col(cursor).alias(CURSOR))
    key = [*primary_key]
    fields = [
        JsonField(name, c.json_column, tuple(c.path.split(".")), parse_type(c.type))
        for name, c in spec.columns.items()
        if c.json_column and c.path
    ]
    wanted = columns_kept(spec, key)
    parts, rejects = [], []
    for chunk in list(df.iter_slices(CHUNK_ROWS)) or [df]:  # no rows: the schema still counts
        kept, json_rejects = extract_json_fields(chunk, fields, key_columns=key)
        kept, cast_rejects = _cast_source_columns(kept, spec, key)
        parts.append(kept.select([c for c in wanted if c in kept.columns]))
        rejects += [json_rejects, cast_rejects]
    return pl.concat(parts, how="vertical_relaxed"), pl.concat(rejects, how="vertical_relaxed")


@dataclasses.dataclass
class TypedShard:
    """One shard's day after the row-by-row half: typed rows, rejects so far, rows read and a
    drift sample; no raw JSON text the view does not keep."""

    rows: pl.DataFrame
    rejects: pl.DataFrame
    rows_in: int
    drift_sample: dict[str, pl.Series]


@dataclasses.dataclass
class _ShardParts:
    rows: list[pl.DataFrame] = dataclasses.field(default_factory=list)
    rejects: list[pl.DataFrame] = dataclasses.field(default_factory=list)
    rows_in: int = 0
    samples: dict[str, list[pl.Series]] = dataclasses.field(default_factory=dict)

    def done(self) -> TypedShard:
        return TypedShard(
            rows=pl.concat(self.rows, how="vertical_relaxed"),
            rejects=pl.concat(self.rejects, how="vertical_relaxed"),
            rows_in=self.rows_in,
            drift_sample={c: pl.concat(parts) for c, parts in self.samples.items()},
        )


def type_slices(
    spec: ViewSpec,
    slices: Iterable[Mapping[str, pl.DataFrame]],
    *,
    primary_key: Sequence[str],
    cursor: str,
    day_rows: Mapping[str, int] | None = None,
) -> Iterator[tuple[str, TypedShard]]:
    """The row-by-row half over a day read in slices, each {shard: its next rows}; yields each
    shard, in order, once it is complete: when a slice without it arrives, or at the end.

    One slice of raw rows is held at a time, whatever the size of the day, and the typed rows
    (which keep none of the raw JSON text) of the shards not yet finished. A shard's rows come
    in order and in consecutive slices; every shard of the day must appear in at least one
    slice, if only with no rows. `day_rows` (shard → the day's rows) spaces the drift sample
    over the whole day.
    """
    pending: dict[str, _ShardParts] = {}
    for raws in _read_by(spec, slices):
        for shard in [s for s in pending if s not in raws]:
            yield shard, pending.pop(shard).done()
        combined = pl.concat(
            [raw.with_columns(pl.lit(shard).alias(SHARD)) for shard, raw in raws.items()],
            how="diagonal_relaxed",
        )
        typed, typed_rejects = shape_rows(spec, combined, primary_key=primary_key, cursor=cursor)
        del combined
        typed_by = typed.partition_by(SHARD, as_dict=True, maintain_order=True)
        rejects_by = typed_rejects.partition_by(SHARD, as_dict=True, maintain_order=True)
        for shard, raw in raws.items():
            parts = pending.setdefault(shard, _ShardParts())
            parts.rows.append(typed_by.get((shard,), typed.clear()))
            parts.rejects.append(rejects_by.get((shard,), typed_rejects.clear()))
            total = day_rows[shard] if day_rows and shard in day_rows else raw.height
            sample = _drift_sample(spec, raw, total=total, offset=parts.rows_in)
            for column, series in sample.items():
                parts.samples.setdefault(column, []).append(series)
            parts.rows_in += raw.height
        raw = None  # the loop's last frame: only the next slice should be held from here
        del raws, typed, typed_by, typed_rejects, rejects_by
    for shard in list(pending):
        yield shard, pending.pop(shard).done()


def _read_by(
    spec: ViewSpec, slices: Iterable[Mapping[str, pl.DataFrame]]
) -> Iterator[Mapping[str, pl.DataFrame]]:
    """The slices as read; a raw column the reader did not find is named with this view."""
    try:
        yield from slices
    except ColumnMissing as e:
        raise ColumnMissing(f"view {spec.name}: {e}") from None


def finish_shards(
    spec: ViewSpec,
    typed: Iterable[tuple[str, TypedShard]],
    *,
    primary_key: Sequence[str],
    related: Mapping[str, Mapping[str, pl.DataFrame]],
    related_cursors: Mapping[str, str],
    run_id: str,
) -> Iterator[tuple[str, Shaped]]:
    """The per-shard half of each shard as it comes (each has its own keys and lookup state),
    handed on at once: a caller that writes each shard never holds the day whole."""
    for shard, rows in typed:
        shaped = _finish_shard(
            spec,
            rows.rows,
            rows.rejects,
            stats=ShardStats(rows_in=rows.rows_in),
            drift_sample=rows.drift_sample,
            key=[*primary_key],
            related=related[shard],
            related_cursors=related_cursors,
            run_id=run_id,
        )
        del rows
        yield shard, shaped
        del shaped


def shape_shard(
    spec: ViewSpec,
    raw: pl.DataFrame,
    *,
    shard: str,
    primary_key: Sequence[str],
    cursor: str,
    related: Mapping[str, pl.DataFrame],
    related_cursors: Mapping[str, str],
    run_id: str,
) -> Shaped:
    """One shard's rows of one day → view rows, rejects, and the counts that must balance."""
    return shape_day(
        spec,
        {shard: raw},
        primary_key=primary_key,
        cursor=cursor,
        related={shard: related},
        related_cursors=related_cursors,
        run_id=run_id,
    )[shard]


def shape_day(
    spec: ViewSpec,
    raws: Mapping[str, pl.DataFrame],
    *,
    primary_key: Sequence[str],
    cursor: str,
    related: Mapping[str, Mapping[str, pl.DataFrame]],
    related_cursors: Mapping[str, str],
    run_id: str,
) -> dict[str, Shaped]:
    """Several shards' whole rows of one day → per shard: view rows, rejects, counts (both
    halves in one call; a day read in slices goes through `type_slices` and `finish_shards`)."""
    return dict(
        finish_shards(
            spec,
            type_slices(spec, [raws], primary_key=primary_key, cursor=cursor),
            primary_key=primary_key,
            related=related,
            related_cursors=related_cursors,
            run_id=run_id,
        )
    )


def _drift_sample(
    spec: ViewSpec, raw: pl.DataFrame, *, total: int, offset: int = 0
) -> dict[str, pl.Series]:
    """Evenly spaced JSON texts of one shard's day (`raw` being its rows from `offset` on, of
    `total`), for `window_drift` at the end of the run.

    Copied out (`copied_texts`): a run keeps its samples until the end.
    """
    step = -(-total // DRIFT_SAMPLE_ROWS) if total else 1
    return {
        column: copied_texts(raw[column].cast(pl.String).gather_every(step, (-offset) % step))
        for column in drift_known_paths(spec)
    }


def _finish_shard(
    spec: ViewSpec,
    df: pl.DataFrame,
    row_rejects: pl.DataFrame,
    *,
    stats: ShardStats,
    drift_sample: dict[str, pl.Series],
    key: list[str],
    related: Mapping[str, pl.DataFrame],
    related_cursors: Mapping[str, str],
    run_id: str,
) -> Shaped:
    """The per-shard half: explode, dedupe, lookups, flatten, the declared column order."""
    rejects = [row_rejects]
    stats.rejected = row_rejects.height

    if spec.explode:
        elements = [
            ElementField(name, tuple(c.item.split(".")), parse_type(c.type))
            for name, c in spec.columns.items()
            if c.item
        ]
        df, explode_rejects = explode_json_array(
            df,
            spec.explode.json_column,
            tuple(spec.explode.path.split(".")),
            elements,
            key_columns=key,
        )
        df = df.rename({"_item_index": spec.explode.index_column})
        rejects.append(explode_rejects)
        stats.rejected += explode_rejects.height
        stats.elements = df.height

    # Dedupe before lookups and flatten: they only derive columns from what is here, so the
    # winner is the same, and they then work on fewer rows (and count orphans once). Exact
    # ties are decided by the declared columns in declared order, then the rest of
    # `columns_kept`: rows equal in all of them give the same view row.
    declared = [c for c in declared_schema(spec) if c in df.columns]
    df = df.select([*declared, *(c for c in df.columns if c not in declared)])
    df, removed = dedupe_latest(df, key=spec.unique_key, cursor=CURSOR, partition=SHARD)
    stats.duplicates = sum(removed.values())

    enriched = enrich(spec, df, related=related, related_cursors=related_cursors, key=key)
    df = enriched.rows
    rejects.append(enriched.rejects)
    stats.dropped = enriched.rejects.height
    stats.rejected += stats.dropped
    for table, orphans in enriched.orphans.items():
        stats.orphans[table] = stats.orphans.get(table, 0) + orphans

    flattened: list[str] = []
    for flat in spec.flatten:
        df, added = flatten_json(df, flat.json_column, prefix=flat.prefix, max_depth=flat.max_depth)
        flattened.extend(added)

    schema = declared_schema(spec)
    lookup_columns = [out for lookup in spec.lookups for out in lookup.outputs.values()]
    df = df.with_columns(pl.lit(run_id).alias(RUN_ID))
    df = df.select(
        [pl.col(n).cast(t) for n, t in schema.items()]
        + [pl.col(n) for n in lookup_columns]
        + [pl.col(n) for n in flattened]
        + [pl.col(SHARD), pl.col(CURSOR), pl.col(RUN_ID)]
    )
    stats.rows_out = df.height
    return Shaped(
        rows=df,
        rejects=pl.concat(rejects, how="vertical_relaxed"),
        stats=stats,
        drift_sample=drift_sample,
        flattened=flattened,
    )
