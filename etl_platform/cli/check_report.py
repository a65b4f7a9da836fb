"""What `etl-platform run` says about a failed asset check: its name, asset and figure, and
for a view's rejects where to look at the rows it kept aside; and how to query the views the
run wrote."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable

import dagster as dg

from etl_platform.runner import FailedCheck

#: The suffix of a view's rejects, in its asset key and its DuckDB name.
_REJECTS = "__rejects"

#: The checks whose failure the rejects table explains.
_REJECT_CHECKS = ("reject_ratio", "rows_balance")


def check_lines(
    check: FailedCheck, *, first: dt.date, last: dt.date, duckdb_file: str
) -> list[str]:
    """`FAILED views/v reject_ratio: 1.87% > 1.00% (...)`, and for a view's rejects the table
    and a DuckDB one-liner over the run's days."""
    kind = "FAILED" if check.blocking else "WARN"
    lines = [f"  {kind} {check.asset.to_user_string()} {check.name}: {figure(check)}"]
    path = check.asset.path
    if check.name in _REJECT_CHECKS and len(path) == 2 and path[0] == "views":
        table = f"{path[1]}__rejects"
        query = (
            f"SELECT reason, count(*) AS rows FROM {table} WHERE updated_at BETWEEN "
            f"DATE '{first}' AND DATE '{last}' GROUP BY 1 ORDER BY 2 DESC LIMIT 20"
        )
        lines += [
            f"    the rows kept aside: views/{table}, e.g. the most common reasons:",
            f"    {duckdb_one_liner(duckdb_file, query)}",
        ]
    return lines


def duckdb_one_liner(duckdb_file: str, query: str) -> str:
    """A shell command that prints the query's answer over the DuckDB file."""
    return (
        '.venv/bin/python -c "import duckdb; '
        f'duckdb.connect(\'{duckdb_file}\', read_only=True).sql(\\"{query}\\").show()"'
    )


@dataclasses.dataclass(frozen=True)
class WrittenView:
    """A view a run materialized: its rows, its rejects, or both."""

    name: str
    rows: bool
    rejects: bool


def written_views(materialized: Iterable[dg.AssetKey]) -> list[WrittenView]:
    """The views among the assets a run materialized (`views/<v>`, `views/<v>__rejects`), in
    name order; a view's current rows and second layout (not by `updated_at`) are not."""
    names = {
        k.path[1]
        for k in materialized
        if len(k.path) == 2 and k.path[0] == "views" and not _derived(k.path[1])
    }
    views = {n.removesuffix(_REJECTS) for n in names}
    return [WrittenView(v, v in names, f"{v}{_REJECTS}" in names) for v in sorted(views)]


def _derived(name: str) -> bool:
    """`<v>__current` and `<v>__by_<column>`: built from a view's days, not days themselves."""
    return name.endswith("__current") or "__by_" in name


def _run_days(first: dt.date, last: dt.date) -> str:
    return f"updated_at BETWEEN DATE '{first}' AND DATE '{last}'"


def view_query_lines(
    views: list[WrittenView], *, first: dt.date, last: dt.date, duckdb_file: str
) -> list[str]:
    """How to query what the run wrote: a DuckDB one-liner over its first view (or that
    view's rejects, when the run wrote only them), then the heading of `views_summary_query`'s
    answer. Nothing when the run wrote no view."""
    if not views:
        return []
    first_view = views[0]
    table = first_view.name if first_view.rows else f"{first_view.name}{_REJECTS}"
    query = f"SELECT * FROM {table} WHERE {_run_days(first, last)} LIMIT 10"
    return [
        f"Query with DuckDB: {duckdb_one_liner(duckdb_file, query)}",
        f"The views this run wrote, {first} .. {last}: rows, and rejects (in <view>{_REJECTS}):",
    ]


def views_summary_query(views: list[WrittenView], *, first: dt.date, last: dt.date) -> str | None:
    """One row per view the run wrote: its rows and its rejects over the run's days (NULL for
    the part the run did not write). None when the run wrote no view."""
    if not views:
        return None
    days = _run_days(first, last)
    selects = []
    for v in views:
        rows = f"(SELECT count(*) FROM {v.name} WHERE {days})" if v.rows else "NULL"
        rejects = f"(SELECT count(*) FROM {v.name}{_REJECTS} WHERE {days})" if v.rejects else "NULL"
        selects.append(f"SELECT '{v.name}' AS view, {rows} AS rows, {rejects} AS rejects")
    return " UNION ALL ".join(selects) + " ORDER BY 1"


def figure(check: FailedCheck) -> str:
    """The check's figure from its metadata: `1.87% > 1.00% (15 of 802 rows rejected)` for
    reject_ratio, the metadata as `key value` pairs for the others."""
    meta = check.metadata
    if check.name == "reject_ratio" and {"ratio", "max_reject_ratio"} <= meta.keys():
        ratio, limit = float(meta["ratio"]), float(meta["max_reject_ratio"])  # type: ignore[arg-type]
        said = f"{ratio:.2%} > {limit:.2%}"
        if "rejected" in meta and "rows_in" in meta:
            said += f" ({meta['rejected']:,} of {meta['rows_in']:,} rows rejected)"
        return said
    if check.name == "unique_key_keeps_rows" and {"ratio", "max_duplicate_ratio"} <= meta.keys():
        ratio, limit = float(meta["ratio"]), float(meta["max_duplicate_ratio"])  # type: ignore[arg-type]
        of = "elements" if "elements" in meta else "rows_in"
        said = f"dedupe removed {ratio:.2%} > {limit:.2%} of the {of.replace('_', ' ')}"
        if "duplicates" in meta and of in meta:
            said += f" ({meta['duplicates']:,} of {meta[of]:,})"
        key = meta.get("key")
        if isinstance(key, list):
            said += f" on {' + '.join(map(str, key))}"
        return said + ": is that one row's key? An aggregate belongs in a report view"
    return ", ".join(f"{key} {_short(value)}" for key, value in meta.items()) or "failed"


def _short(value: object, limit: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."
