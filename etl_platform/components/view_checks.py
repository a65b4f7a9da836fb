"""The four blocking checks that guard a view, the two that warn, and their results from a
run's summary."""

from __future__ import annotations

import dataclasses
from collections.abc import Set

import dagster as dg

from etl_platform.asset_keys import view_asset_key
from etl_platform.specs.views import ViewSpec
from etl_platform.steps.view_days import ViewWindow

CHECKS = ("unique_key_unique", "unique_key_not_null", "rows_balance", "reject_ratio")
#: Warns (does not block) when a day was built without some shards' inputs.
SHARDS_CHECK = "all_shards_present"
#: Warns (does not block) when dedupe removed most rows: a unique key that is not one row's.
KEEPS_ROWS_CHECK = "unique_key_keeps_rows"
#: The share of rows in (an exploded view: of elements) that dedupe may remove before
#: KEEPS_ROWS_CHECK warns.
MAX_DUPLICATE_RATIO = 0.5


def view_check_specs(spec: ViewSpec) -> list[dg.AssetCheckSpec]:
    key = view_asset_key(spec.name)
    what = {
        "unique_key_unique": f"One row per _shard + {', '.join(spec.unique_key)}.",
        "unique_key_not_null": "No row has a null in its unique key.",
        "rows_balance": "Per shard: rows in = rows out + rejects + duplicates removed.",
        "reject_ratio": f"Rejected rows are at most {spec.max_reject_ratio:.2%} of rows in.",
    }
    return [
        *(
            dg.AssetCheckSpec(name, asset=key, description=what[name], blocking=True)
            for name in CHECKS
        ),
        dg.AssetCheckSpec(
            SHARDS_CHECK,
            asset=key,
            description="Every shard's inputs were there; a day built without some is rebuilt "
            "when they land.",
        ),
        dg.AssetCheckSpec(KEEPS_ROWS_CHECK, asset=key, description=_keeps_rows_description(spec)),
    ]


def _keeps_rows_description(spec: ViewSpec) -> str:
    rows = "exploded elements" if spec.explode else "rows in"
    return (
        f"Dedupe on _shard + {' + '.join(spec.unique_key)} removes at most "
        f"{MAX_DUPLICATE_RATIO:.0%} of the {rows}. More means the unique key is not one row's "
        "key and the view keeps one row of many, dropping the rest: an analyst who meant an "
        "aggregate (one row per customer, say) should write a report view instead."
    )


def view_check_results(
    spec: ViewSpec, window: ViewWindow, selected: Set[dg.AssetCheckKey] | None = None
) -> list[dg.AssetCheckResult]:
    """The results of the checks in `selected` (all when None): a run that selected only the
    rejects asset has none of the view's checks to report."""
    key = view_asset_key(spec.name)
    ratio = window.rejected / window.rows_in if window.rows_in else 0.0
    unbalanced = {
        shard: dataclasses.asdict(s)
        for shard, s in window.stats.items()
        if not s.balanced(bool(spec.explode))
    }
    duplicates = sum(s.duplicates for s in window.stats.values())
    # An exploded view dedupes its elements: rows in are the parents.
    deduped = sum(s.elements for s in window.stats.values()) if spec.explode else window.rows_in
    duplicate_ratio = duplicates / deduped if deduped else 0.0
    results = [
        dg.AssetCheckResult(
            asset_key=key,
            check_name="unique_key_unique",
            passed=window.duplicate_keys == 0,
            metadata={"duplicate_rows": window.duplicate_keys, "key": ["_shard", *spec.unique_key]},
        ),
        dg.AssetCheckResult(
            asset_key=key,
            check_name="unique_key_not_null",
            passed=window.null_keys == 0,
            metadata={"rows_with_null_key": window.null_keys},
        ),
        dg.AssetCheckResult(
            asset_key=key,
            check_name="rows_balance",
            passed=not unbalanced,
            metadata={"unbalanced_shards": dg.MetadataValue.json(unbalanced)},
        ),
        dg.AssetCheckResult(
            asset_key=key,
            check_name="reject_ratio",
            passed=ratio <= spec.max_reject_ratio,
            metadata={
                "rejected": window.rejected,
                "rows_in": window.rows_in,
                "ratio": ratio,
                "max_reject_ratio": spec.max_reject_ratio,
            },
        ),
        dg.AssetCheckResult(
            asset_key=key,
            check_name=SHARDS_CHECK,
            passed=not window.missing,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"missing": dg.MetadataValue.json(window.missing)},
        ),
        dg.AssetCheckResult(
            asset_key=key,
            check_name=KEEPS_ROWS_CHECK,
            passed=duplicate_ratio <= MAX_DUPLICATE_RATIO,
            severity=dg.AssetCheckSeverity.WARN,
            description=(
                f"dedupe on _shard + {' + '.join(spec.unique_key)} removed {duplicates:,} of "
                f"{deduped:,} {'elements' if spec.explode else 'rows in'} "
                f"({duplicate_ratio:.2%}; it warns above {MAX_DUPLICATE_RATIO:.0%})"
            ),
            metadata={
                "ratio": duplicate_ratio,
                "rows_in": window.rows_in,
                **({"elements": deduped} if spec.explode else {}),
                "duplicates": duplicates,
                "max_duplicate_ratio": MAX_DUPLICATE_RATIO,
                "key": ["_shard", *spec.unique_key],
            },
        ),
    ]
    if selected is None:
        return results
    return [r for r in results if dg.AssetCheckKey(key, r.check_name) in selected]
