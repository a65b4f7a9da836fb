"""What `etl-platform run` says about a failed asset check: its name, asset and figure, and
for a view's rejects where to look at the rows it kept aside."""

from __future__ import annotations

import datetime as dt
import json

from etl_platform.runner import FailedCheck

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
            '    .venv/bin/python -c "import duckdb; '
            f'duckdb.connect(\'{duckdb_file}\', read_only=True).sql(\\"{query}\\").show()"',
        ]
    return lines


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
    return ", ".join(f"{key} {_short(value)}" for key, value in meta.items()) or "failed"


def _short(value: object, limit: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."
