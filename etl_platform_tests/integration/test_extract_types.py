"""Every MySQL type and messy value, read over a real connection; expectations come from SQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.extract.extractor import ExtractRequest, extract_window
from etl_platform.extract.types import UnsupportedTypeError
from etl_platform.load.lake import Lake
from etl_platform_tests.conftest import run_sql

pytestmark = pytest.mark.integration

DDL = """
CREATE TABLE every_type (
  id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  i8 TINYINT, u8 TINYINT UNSIGNED, i16 SMALLINT, i24 MEDIUMINT, i32 INT, i64 BIGINT,
  flag TINYINT(1), bit1 BIT(1), bits BIT(12),
  money DECIMAL(12,2), big_money DECIMAL(38,10), huge DECIMAL(65,30),
  f32 FLOAT, f64 DOUBLE,
  d DATE, legacy DATETIME, ts TIMESTAMP(6) NULL, tm TIME(6), yr YEAR,
  c CHAR(3), vc VARCHAR(64), txt LONGTEXT, doc JSON,
  e ENUM('a','b','c'), s SET('x','y','z'),
  bin BINARY(4), vb VARBINARY(16), bl LONGBLOB,
  updated_at DATETIME(6) NOT NULL,
  KEY (updated_at)
) DEFAULT CHARSET=utf8mb4
"""

ROWS = """
INSERT INTO every_type VALUES
(18446744073709551615, -128, 255, -32768, -8388608, -2147483648, -9223372036854775808,
 1, b'1', b'111111111111', 9999999999.99, 1234567890123456789012345678.0123456789,
 12345678901234567890123456789012345.123456789012345678901234567890,
 1.5, 2.2250738585072014e-308, '2024-02-29', '0000-00-00 00:00:00', '1970-01-01 00:00:01',
 '-838:59:59.000000', 2155, 'abc', 'Zoë Ñúñez 🚀 日本語 مرحبا', REPEAT('long ✓ ', 40000),
 '{"a": [1, 2, {"b": null}], "emoji": "🎉"}', 'c', 'x,z', x'00FF0001', x'', x'DEADBEEF00',
 '2024-03-10 00:00:00.000000'),
(9223372036854775808, NULL, NULL, NULL, NULL, NULL, NULL,
 0, b'0', b'0', -0.01, 0, 0, NULL, NULL, NULL, '2024-00-15 00:00:00', NULL,
 '00:00:00.000001', 1901, '', '', '', NULL, NULL, '', NULL, NULL, NULL,
 '2024-03-10 23:59:59.999999'),
(1, 0, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0.00, 0, 0, 0, 0, '1000-01-01', '2024-03-10 12:00:00',
 '2038-01-19 03:14:07.999999', '12:34:56.5', NULL, NULL, NULL, '{"bad": ', NULL, 'a', '',
 NULL, NULL, NULL, '2024-03-11 00:00:00.000000'),
(2, 0, 0, 0, 0, 0, 0, 0, b'0', b'0', 0.00, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, 'a', '', NULL, NULL, NULL, '2024-03-09 23:59:59.999999')
"""

# The server's own rendering of each value: the expectation the extract is compared with.
EXPECTED_SQL = """
SELECT CAST(id AS CHAR), CAST(i8 AS CHAR), CAST(u8 AS CHAR), CAST(i16 AS CHAR), CAST(i24 AS CHAR),
  CAST(i32 AS CHAR), CAST(i64 AS CHAR), CAST(flag AS CHAR), CAST(bit1 + 0 AS CHAR),
  CAST(bits + 0 AS CHAR), CAST(money AS CHAR), CAST(big_money AS CHAR), CAST(huge AS CHAR),
  CAST(f64 AS CHAR), DATE_FORMAT(d, '%Y-%m-%d'),
  IF(legacy IS NULL OR MONTH(legacy) = 0 OR DAYOFMONTH(legacy) = 0, NULL,
     DATE_FORMAT(legacy, '%Y-%m-%d %H:%i:%s.%f')),
  DATE_FORMAT(ts, '%Y-%m-%d %H:%i:%s.%f'), CAST(tm AS CHAR),
  CAST(yr AS CHAR), c, vc, txt, doc, e, s, HEX(bin), HEX(vb), HEX(bl),
  DATE_FORMAT(updated_at, '%Y-%m-%d %H:%i:%s.%f')
FROM every_type
WHERE updated_at >= '2024-03-10' AND updated_at < '2024-03-11'
ORDER BY id
"""


def _render(value: object) -> str | None:
    """Render an extracted value the way the server rendered it in EXPECTED_SQL."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, bytes):
        return value.hex().upper()
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        micros = value // dt.timedelta(microseconds=1)
        sign, micros = ("-" if micros < 0 else ""), abs(micros)
        seconds, micros = divmod(micros, 1_000_000)
        return (
            f"{sign}{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.{micros:06d}"
        )
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


@pytest.fixture
def every_type_db(scratch_db: MySqlEndpoint) -> MySqlEndpoint:
    run_sql(scratch_db, "SET SESSION sql_mode = ''", DDL, ROWS)
    return scratch_db


def _extract(
    endpoint: MySqlEndpoint, tmp_path: Path, days: list[dt.date], backend: str, **kw
) -> tuple:
    request = ExtractRequest(
        shard="s0",
        table="every_type",
        endpoint=endpoint,
        days=days,
        cursor="updated_at",
        primary_key=["id"],
        batch_rows=1,
        backend=backend,
        **kw,
    )
    zone = Lake(tmp_path)
    return extract_window(request, zone), zone


def test_every_type_round_trips_as_the_server_renders_it(
    every_type_db: MySqlEndpoint, tmp_path: Path, extract_backend: str
) -> None:
    day = dt.date(2024, 3, 10)
    result, zone = _extract(every_type_db, tmp_path, [day], extract_backend)
    assert result.backend == extract_backend  # this backend read it (no silent fallback)
    table = pq.read_table(zone.raw("s0", "every_type").partition_dir(day)).sort_by("id")
    expected = run_sql(every_type_db, EXPECTED_SQL)
    columns = [c for c in table.column_names if c not in ("f32",)]
    got = [tuple(_render(row[c]) for c in columns) for row in table.select(columns).to_pylist()]
    assert len(got) == len(expected) == 2
    for got_row, expected_row in zip(got, expected, strict=True):
        for name, g, e in zip(columns, got_row, expected_row, strict=True):
            if name == "f64" and e is not None:
                assert float(g) == float(e), name
            elif name == "doc" and e is not None:
                assert g == e, name
            else:
                assert g == (None if e is None else str(e)), name
    assert result.zero_dates == {"legacy": 2}
    assert result.rows == 2
    assert result.plan.cursor_index == "updated_at"
    assert result.explain["key"] == "updated_at"
    assert str(result.min_cursor) == "2024-03-10 00:00:00+00:00"
    assert str(result.max_cursor) == "2024-03-10 23:59:59.999999+00:00"


def test_midnight_belongs_to_the_day_it_starts(
    every_type_db: MySqlEndpoint, tmp_path: Path, extract_backend: str
) -> None:
    days = [dt.date(2024, 3, 9), dt.date(2024, 3, 10), dt.date(2024, 3, 11)]
    result, _ = _extract(every_type_db, tmp_path, days, extract_backend)
    expected = run_sql(
        every_type_db,
        "SELECT DATE(updated_at), COUNT(*) FROM every_type GROUP BY 1 ORDER BY 1",
    )
    assert {d: s.rows for d, s in result.days.items()} == {d: n for d, n in expected}


def test_shard_time_zone_shifts_datetime_rows_into_utc_days(
    every_type_db: MySqlEndpoint, tmp_path: Path, extract_backend: str
) -> None:
    # The shard writes DATETIME in UTC+2 (Etc/GMT-2): local midnight is 22:00 UTC the day before.
    days = [dt.date(2024, 3, 9), dt.date(2024, 3, 10)]
    result, zone = _extract(every_type_db, tmp_path, days, extract_backend, timezone="Etc/GMT-2")
    expected = run_sql(
        every_type_db,
        "SELECT DATE(updated_at - INTERVAL 2 HOUR), COUNT(*) FROM every_type "
        "WHERE updated_at - INTERVAL 2 HOUR >= '2024-03-09' "
        "AND updated_at - INTERVAL 2 HOUR < '2024-03-11' GROUP BY 1 ORDER BY 1",
    )
    assert {d: s.rows for d, s in result.days.items() if s.rows} == {d: n for d, n in expected}
    got = pq.read_table(zone.raw("s0", "every_type").partition_dir(days[0])).column("updated_at")
    assert dt.datetime(2024, 3, 9, 22, tzinfo=dt.UTC) in got.to_pylist()


def test_a_column_without_a_faithful_type_is_named(
    scratch_db: MySqlEndpoint, tmp_path: Path, extract_backend: str
) -> None:
    run_sql(scratch_db, "CREATE TABLE places (id INT PRIMARY KEY, geo POINT, updated_at DATETIME)")
    request = ExtractRequest(
        shard="s0",
        table="places",
        endpoint=scratch_db,
        days=[dt.date(2024, 1, 1)],
        cursor="updated_at",
        primary_key=["id"],
    )
    with pytest.raises(UnsupportedTypeError, match="column `geo` of table `places`"):
        extract_window(request, Lake(tmp_path))
    # ... and excluding it makes the table readable.
    request = ExtractRequest(
        shard="s0",
        table="places",
        endpoint=scratch_db,
        days=[dt.date(2024, 1, 1)],
        cursor="updated_at",
        primary_key=["id"],
        exclude_columns=["geo"],
        backend=extract_backend,
    )
    assert extract_window(request, Lake(tmp_path)).rows == 0


def test_missing_table_and_cursor_are_named(scratch_db: MySqlEndpoint, tmp_path: Path) -> None:
    run_sql(scratch_db, "CREATE TABLE t (id INT PRIMARY KEY, modified DATETIME)")
    base = {
        "shard": "s7",
        "endpoint": scratch_db,
        "days": [dt.date(2024, 1, 1)],
        "primary_key": ["id"],
    }
    with pytest.raises(LookupError, match="shard s7: table `nope` does not exist"):
        extract_window(ExtractRequest(table="nope", cursor="updated_at", **base), Lake(tmp_path))
    with pytest.raises(
        LookupError, match=r"shard s7: table `t`: cursor column\(s\) \['updated_at'\]"
    ):
        extract_window(ExtractRequest(table="t", cursor="updated_at", **base), Lake(tmp_path))
    run_sql(scratch_db, "ALTER TABLE t ADD COLUMN n INT")
    with pytest.raises(TypeError, match="cursor column `n` must be DATETIME, TIMESTAMP or DATE"):
        extract_window(ExtractRequest(table="t", cursor="n", **base), Lake(tmp_path))
