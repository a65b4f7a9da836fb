"""The seeded shop's messy values survive extraction byte for byte; SQL gives the expectation."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.extract.extractor import ExtractRequest, extract_window
from etl_platform.load.lake import Lake
from etl_platform_tests.conftest import SEED_DAYS, SEED_END, SEED_PREFIX, run_sql

pytestmark = pytest.mark.integration

DAYS = [SEED_END - dt.timedelta(days=i) for i in range(SEED_DAYS)]


def _extract(mysql_server: MySqlEndpoint, tmp_path: Path, table: str):
    endpoint = mysql_server.with_database(f"{SEED_PREFIX}00")
    request = ExtractRequest(
        shard="shard_00",
        table=table,
        endpoint=endpoint,
        days=DAYS,
        cursor="updated_at",
        primary_key=["id"],
        batch_rows=97,
    )
    zone = Lake(tmp_path)
    result = extract_window(request, zone)
    return result, ds.dataset(zone.raw("shard_00", table).dir, format="parquet").to_table()


def _digest(*parts: object) -> str:
    return hashlib.sha256(
        "\x1f".join("\\N" if p is None else str(p) for p in parts).encode()
    ).hexdigest()


def test_customer_text_unicode_long_values_and_zero_dates(
    seeded_shards: list[str], mysql_server: MySqlEndpoint, tmp_path: Path
) -> None:
    result, table = _extract(mysql_server, tmp_path, "customers")
    server = {
        int(r[0]): r[1:]
        for r in run_sql(
            mysql_server.with_database(f"{SEED_PREFIX}00"),
            "SET SESSION sql_mode = ''",
            "SELECT CAST(id AS CHAR), full_name, profile, bio, is_active, tier, "
            "IF(legacy_signup IS NULL OR YEAR(legacy_signup) = 0, NULL, "
            "DATE_FORMAT(legacy_signup, '%%Y-%%m-%%d %%H:%%i:%%s')), "
            "DATE_FORMAT(updated_at, '%%Y-%%m-%%d %%H:%%i:%%s.%%f'), "
            "SUM(legacy_signup = '0000-00-00 00:00:00') OVER () "
            "FROM customers WHERE updated_at >= %s AND updated_at < %s",
            params=(str(DAYS[-1]), str(SEED_END + dt.timedelta(days=1))),
        )
    }
    zero_dates = int(next(iter(server.values()))[-1])
    got = {}
    for row in table.to_pylist():
        legacy = row["legacy_signup"]
        got[row["id"]] = (
            row["full_name"],
            row["profile"],
            row["bio"],
            int(row["is_active"]),
            row["tier"],
            legacy.strftime("%Y-%m-%d %H:%M:%S") if legacy else None,
            row["updated_at"].strftime("%Y-%m-%d %H:%M:%S.%f"),
        )
    assert set(got) == set(server)
    assert {k: _digest(*v) for k, v in got.items()} == {
        k: _digest(*v[:-1]) for k, v in server.items()
    }
    assert result.zero_dates == ({"legacy_signup": zero_dates} if zero_dates else {})
    assert any(ord(c) > 0xFFFF for name, *_ in got.values() for c in name)  # emoji survived
    assert max(len(v[2] or "") for v in got.values()) > 100_000  # very long text survived


def test_orders_money_flags_and_microseconds(
    seeded_shards: list[str], mysql_server: MySqlEndpoint, tmp_path: Path
) -> None:
    _, table = _extract(mysql_server, tmp_path, "orders")
    server = run_sql(
        mysql_server.with_database(f"{SEED_PREFIX}00"),
        "SELECT CAST(id AS CHAR), CAST(total AS CHAR), is_gift, payload, "
        "DATE_FORMAT(updated_at, '%%Y-%%m-%%d %%H:%%i:%%s.%%f') FROM orders "
        "WHERE updated_at >= %s AND updated_at < %s",
        params=(str(DAYS[-1]), str(SEED_END + dt.timedelta(days=1))),
    )
    expected = {(int(i), Decimal(t), bool(g), p, u) for i, t, g, p, u in server}
    got = {
        (
            r["id"],
            r["total"],
            r["is_gift"],
            r["payload"],
            r["updated_at"].strftime("%Y-%m-%d %H:%M:%S.%f"),
        )
        for r in table.to_pylist()
    }
    assert got == expected
    stamps = {u for *_, u in got}
    assert any(s.endswith("23:59:59.999999") for s in stamps)
    assert any(s.endswith("00:00:00.000000") for s in stamps)
