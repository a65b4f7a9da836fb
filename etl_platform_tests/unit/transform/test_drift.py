"""json_key_drift: key paths the view does not know, with the rows that have them."""

from __future__ import annotations

import polars as pl

from etl_platform.transform.drift import json_key_drift

DOCS = [
    '{"totals":{"grand_total":1,"tax":2},"shipping":{"address":{"city":"x","geo":{"lat":1}}},"new":1}',
    '{"totals":{"grand_total":1},"shipping":{"method":"ups"},"coupon":null,"😀":{"é":1}}',
    '{"new":{"deep":{"deeper":{"deepest":1}}}}',
    "not json",
    '[{"new":1}]',
    None,
]
KNOWN = [("totals", "grand_total"), ("shipping", "address")]


def test_unknown_paths_and_row_counts() -> None:
    df = pl.DataFrame({"payload": DOCS})
    assert json_key_drift(df, "payload", known_paths=KNOWN) == {
        "coupon": 1,
        "new": 2,
        "new.deep": 1,
        "new.deep.deeper": 1,
        "shipping.method": 1,
        "totals.tax": 1,
        "😀": 1,
        "😀.é": 1,
    }


def test_max_depth_limits_the_report() -> None:
    df = pl.DataFrame({"payload": DOCS})
    assert json_key_drift(df, "payload", known_paths=KNOWN, max_depth=1) == {
        "coupon": 1,
        "new": 2,
        "😀": 1,
    }


def test_nothing_unknown() -> None:
    df = pl.DataFrame({"payload": ['{"a":{"b":1}}', None, "bad"]})
    assert json_key_drift(df, "payload", known_paths=[("a",)]) == {}
    assert json_key_drift(df.clear(), "payload", known_paths=[]) == {}
