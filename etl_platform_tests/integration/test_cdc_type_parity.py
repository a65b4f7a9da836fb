"""The binlog and the batch extract type every value the same: one table of every supported
type, read by the real batch extract and from the binlog of a private MariaDB, compared
through Parquet value for value (inserts, an update's two images, a delete's before-image)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from etl_platform.demo.mariadb_server import INSTALL_HINT, ServerError, start_server, stop_server
from etl_platform.extract.binlog_values import binlog_table, with_none_sources
from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.extract.extractor import ExtractRequest, extract_window
from etl_platform.extract.types import ColumnPlan, ConversionStats
from etl_platform.load.lake import Lake, parquet_write_options
from etl_platform_tests.conftest import run_sql

pytestmark = pytest.mark.integration

DB = "cdc_parity"
TABLE = "every_type"
#: A UTC day whose shard-local Berlin clock falls back an hour (02:00-03:00 happens twice).
DAY = dt.date(2024, 10, 27)
ZONES = ["UTC", "Europe/Berlin"]
MAX_U64 = 18446744073709551615

DDL = f"""
CREATE TABLE {TABLE} (
  id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  i8 TINYINT, u8 TINYINT UNSIGNED, i16 SMALLINT, u16 SMALLINT UNSIGNED, i24 MEDIUMINT,
  u24 MEDIUMINT UNSIGNED, i32 INT, u32 INT UNSIGNED, i64 BIGINT, u64 BIGINT UNSIGNED,
  flag TINYINT(1), bit1 BIT(1), bit8 BIT(8), bits BIT(64),
  money DECIMAL(12,2), huge DECIMAL(65,30), num NUMERIC(10,0),
  f32 FLOAT, f32s FLOAT(7,3), f64 DOUBLE, f64s DOUBLE(10,4),
  d DATE, legacy DATETIME, dt6 DATETIME(6), dt3 DATETIME(3), ts TIMESTAMP(6) NULL,
  ts0 TIMESTAMP NULL, tm TIME(6), tm0 TIME, tm2 TIME(2), yr YEAR,
  c CHAR(5), vc VARCHAR(64), lat VARCHAR(16) CHARACTER SET latin1, tt TINYTEXT, txt TEXT,
  mt MEDIUMTEXT, lt LONGTEXT, doc JSON,
  e ENUM('a','b','c'), en ENUM('x','y') NOT NULL DEFAULT 'x',
  s SET('x','y','z'), sn SET('p','q') NOT NULL DEFAULT '',
  u UUID, ip4 INET4, ip6 INET6,
  bin BINARY(4), vb VARBINARY(16), tb TINYBLOB, bl BLOB, mb MEDIUMBLOB, lb LONGBLOB,
  updated_at DATETIME(6) NOT NULL,
  KEY (updated_at)
) DEFAULT CHARSET=utf8mb4
"""

COLUMNS = (
    "id, i8, u8, i16, u16, i24, u24, i32, u32, i64, u64, flag, bit1, bit8, bits, money, huge, "
    "num, f32, f32s, f64, f64s, d, legacy, dt6, dt3, ts, ts0, tm, tm0, tm2, yr, c, vc, lat, tt, "
    "txt, mt, lt, doc, e, en, s, sn, u, ip4, ip6, bin, vb, tb, bl, mb, lb, updated_at"
)

# Edge values, NULLs and what only a lax sql_mode lets in (zero dates, an invalid ENUM).
ROWS = f"""
INSERT INTO {TABLE} ({COLUMNS}) VALUES
({MAX_U64}, -128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295,
 -9223372036854775808, {MAX_U64}, 1, b'1', b'11111111', b'{"1" * 64}',
 9999999999.99, 12345678901234567890123456789012345.123456789012345678901234567890, 9999999999,
 1.2345678, 9999.999, 2.2250738585072014e-308, 123456.7891,
 '2024-02-29', '0000-00-00 00:00:00', '2024-03-31 02:30:00.000001', '2024-10-27 02:30:00.123',
 '2038-01-19 03:14:07.999999', '0000-00-00 00:00:00', '-838:59:59.000000', '838:59:59',
 '-00:00:01.25', 2155, 'abc', 'Zoë Ñúñez 🚀 日本語 مرحبا', 'Zoë', '', REPEAT('long ✓ ', 9000),
 'mé', REPEAT('x', 70000), '{{"a": [1, 2, {{"b": null}}], "emoji": "🎉"}}', 'c', 'y', 'x,z', '',
 '123e4567-e89b-12d3-a456-426614174000', '255.255.255.255', '::ffff:1.2.3.4',
 x'00FF0000', x'', x'00', x'DEADBEEF00', x'', x'00000000', '2024-10-27 02:30:00'),
(9223372036854775808, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '0000-00-00', '2024-00-15 00:00:00',
 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 NULL, 'x', NULL, 'q', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 '2024-10-27 12:00:00.123456'),
(1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, b'0', b'0', b'0', -0.01,
 -0.000000000000000000000000000001, 0, -1.5, -0.001, 1e300, 0, '1000-01-01',
 '2024-10-27 03:00:00', '9999-12-31 23:59:59.999999', '1000-01-01 00:00:00',
 '1970-01-01 00:00:01', '2024-10-27 01:30:00', '-12:34:56.000001', '-00:00:01',
 '100:00:00.99', 0, ' a', '', '', NULL, '', '', '', '[]', 'nope', 'x', '', 'p,q',
 '00000000-0000-0000-0000-000000000000', '0.0.0.0', '::', x'', x'00', x'', x'', x'00', x'',
 '2024-10-27 22:59:59.999999'),
(2, 127, 1, 1, 1, 1, 1, 1, 1, 1, 9223372036854775807, 0, b'1', b'10000000',
 b'1000000000000000000000000000000000000000000000000000000000000001', 0.10, 1.5, -9999999999,
 0.1, 0.5, 0.1, -0.0001, '9999-12-31', '2024-03-31 02:00:00', '2024-10-27 02:59:59.999999',
 '2024-10-27 02:00:00.999', '2024-10-27 01:00:00', '2024-10-27 00:59:59', '-838:59:58.999999',
 '00:00:00', '-00:00:00.01', 1901, 'abcde', 'tab\\there \\"quoted\\" back\\\\slash',
 'ÿ', 'a', 'b', 'c', 'd', '"\\\\u00e9\\\\n"', 'a', 'y', 'z,y', 'p',
 '550e8400-e29b-41d4-a716-446655440000', '10.0.0.0', '::1.2.3.4', x'01', x'FFFF', x'7F',
 x'00', x'01', x'02', '2024-10-27 12:00:00'),
(3, -1, 254, -2, 65534, -3, 16777214, -4, 4294967294, -5, 1, 1, b'0', b'00000001',
 b'10', 0.01, 0.000000000000000000000000000001, 1, 3.4028234e38, 1.5, -2.5e-300, 0.5,
 '2000-01-01', '2024-10-27 02:30:00', '2024-10-27 02:30:00', '2024-10-27 03:30:00',
 '2024-10-27 02:30:00', '2000-01-01 00:00:00', '00:00:00.000001', '-838:59:59',
  '838:59:59.99', 1999, 'x', 'ASCII', 'x', 'y', 'z', 'w', 'v', '{{"k": 1.5e300}}', 'b', 'x',
 'x,y,z', 'p,q', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '1.2.3.4', '2001:db8:0:1:1:1:1:1',
 x'FFFFFFFF', x'00000000', x'', x'', x'', x'', '2024-10-27 20:00:00')
"""

UPDATE = f"""
UPDATE {TABLE} SET i8 = -1, vc = 'changed 🚀', s = '', sn = '', tm2 = '-00:00:00.01',
  d = '0000-00-00', bits = b'1010', e = 'a', f32 = 16777217, doc = NULL, u = NULL,
  ip6 = '2001:0:0:1:0:0:1:1', updated_at = '2024-10-27 21:00:00'
WHERE id IN (1, 2, {MAX_U64})
"""
UPDATED = (1, 2, MAX_U64)
DELETE = f"DELETE FROM {TABLE} WHERE id IN (3, 9223372036854775808)"
DELETED = (3, 9223372036854775808)


@dataclasses.dataclass
class Images:
    """Each stage as the batch read it (per zone), and the binlog's images of it."""

    endpoint: MySqlEndpoint
    plans: tuple[ColumnPlan, ...]
    batch_inserted: dict[str, pa.Table]
    batch_updated: dict[str, pa.Table]
    zero_dates: dict[str, dict[str, int]]
    inserts: list[Mapping[str, object]] = dataclasses.field(default_factory=list)
    raw_inserts: list[Mapping[str, object]] = dataclasses.field(default_factory=list)
    update_befores: list[Mapping[str, object]] = dataclasses.field(default_factory=list)
    update_afters: list[Mapping[str, object]] = dataclasses.field(default_factory=list)
    deletes: list[Mapping[str, object]] = dataclasses.field(default_factory=list)


def _batch(endpoint: MySqlEndpoint, root: Path, zone: str) -> tuple[pa.Table, dict, tuple]:
    request = ExtractRequest(
        shard="s0",
        table=TABLE,
        endpoint=endpoint,
        days=[DAY],
        cursor="updated_at",
        primary_key=["id"],
        timezone=zone,
        backend="pymysql",
    )
    lake = Lake(root)
    result = extract_window(request, lake)
    table = pq.read_table(lake.raw("s0", TABLE).partition_dir(DAY)).sort_by("id")
    return table, result.zero_dates, result.plan.plans


@pytest.fixture(scope="module")
def binlog_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MySqlEndpoint]:
    """A fresh private MariaDB with a ROW binlog, FULL images and FULL row metadata."""
    base = tmp_path_factory.mktemp("cdc_parity")
    try:
        server = start_server(base, binlog=True)
    except ServerError as e:
        # CI installs mariadb-server (.ci/run): there a missing binary fails, it does not skip.
        if e.args and e.args[0] == INSTALL_HINT and os.environ.get("CI") != "true":
            pytest.skip(INSTALL_HINT)
        raise
    try:
        yield server.endpoint
    finally:
        stop_server(base)


@pytest.fixture(scope="module")
def images(binlog_server: MySqlEndpoint, tmp_path_factory: pytest.TempPathFactory) -> Images:
    run_sql(binlog_server, f"DROP DATABASE IF EXISTS {DB}", f"CREATE DATABASE {DB}")
    endpoint = binlog_server.with_database(DB)
    run_sql(endpoint, "SET SESSION sql_mode = ''", DDL, ROWS)
    inserted, zero_dates, plans = {}, {}, ()
    for zone in ZONES:
        root = tmp_path_factory.mktemp("inserted")
        inserted[zone], zero_dates[zone], plans = _batch(endpoint, root, zone)
    run_sql(endpoint, "SET SESSION sql_mode = ''", UPDATE)
    updated = {zone: _batch(endpoint, tmp_path_factory.mktemp("up"), zone)[0] for zone in ZONES}
    run_sql(endpoint, DELETE)
    found = Images(endpoint, plans, inserted, updated, zero_dates)
    _read_binlog(binlog_server, found)
    return found


def _read_binlog(server: MySqlEndpoint, found: Images) -> None:
    """Every row event of the table, from the start of the (fresh) server's binlog.

    By file and position, as the capture reads: the server ends a non-blocking dump by closing
    the connection, which can reset it before the last events are read, and the library then
    dumps again: from where it was with a position, from the start in MariaDB's GTID mode
    (`is_mariadb=True`), which would repeat rows.
    """
    first_file = str(run_sql(server, "SHOW BINARY LOGS")[0][0])
    stream = BinLogStreamReader(
        connection_settings={
            "host": server.host,
            "port": server.port,
            "user": server.user,
            "password": server.password,
        },
        server_id=4242,
        only_events=[WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent],
        only_schemas=[DB],
        only_tables=[TABLE],
        log_file=first_file,
        log_pos=4,
        resume_stream=True,
        blocking=False,
    )
    try:
        for event in stream:
            for row in event.rows:
                if isinstance(event, WriteRowsEvent):
                    found.raw_inserts.append(row["values"])
                    found.inserts.append(with_none_sources(row["values"], row["none_sources"]))
                elif isinstance(event, UpdateRowsEvent):
                    found.update_befores.append(
                        with_none_sources(row["before_values"], row["before_none_sources"])
                    )
                    found.update_afters.append(
                        with_none_sources(row["after_values"], row["after_none_sources"])
                    )
                else:
                    found.deletes.append(with_none_sources(row["values"], row["none_sources"]))
    finally:
        stream.close()


def _through_parquet(table: pa.Table, path: Path) -> pa.Table:
    """As a change file is written: the lake's writer options, then read back."""
    pq.write_table(table, path, **parquet_write_options("raw"))
    return pq.read_table(path).sort_by("id")


def _rows(table: pa.Table, ids: tuple[int, ...]) -> pa.Table:
    return table.filter(pa.compute.is_in(table.column("id"), pa.array(ids, pa.uint64())))


def _assert_same(got: pa.Table, batch: pa.Table) -> None:
    assert [(f.name, f.type) for f in got.schema] == [(f.name, f.type) for f in batch.schema]
    assert got.num_rows == batch.num_rows
    for name in batch.column_names:
        assert got.column(name).to_pylist() == batch.column(name).to_pylist(), name


@pytest.mark.parametrize("zone", ZONES)
def test_inserts_are_typed_as_the_batch_types_them(
    images: Images, zone: str, tmp_path: Path
) -> None:
    stats = ConversionStats()
    typed = binlog_table(images.plans, images.inserts, timezone=zone, table=TABLE, stats=stats)
    assert len(images.inserts) == 5
    _assert_same(_through_parquet(typed, tmp_path / "c.parquet"), images.batch_inserted[zone])
    assert stats.zero_dates == images.zero_dates[zone] == {"d": 1, "legacy": 2, "ts0": 1}


@pytest.mark.parametrize("zone", ZONES)
def test_an_updates_images_are_the_rows_before_and_after(
    images: Images, zone: str, tmp_path: Path
) -> None:
    def typed(rows: list[Mapping[str, object]], name: str) -> pa.Table:
        table = binlog_table(
            images.plans, rows, timezone=zone, table=TABLE, stats=ConversionStats()
        )
        return _through_parquet(table, tmp_path / name)

    assert len(images.update_afters) == len(UPDATED)
    after = typed(images.update_afters, "after.parquet")
    _assert_same(after, _rows(images.batch_updated[zone], UPDATED))
    before = typed(images.update_befores, "before.parquet")
    _assert_same(before, _rows(images.batch_inserted[zone], UPDATED))


@pytest.mark.parametrize("zone", ZONES)
def test_a_deletes_before_image_is_the_row_it_removed(
    images: Images, zone: str, tmp_path: Path
) -> None:
    table = binlog_table(
        images.plans, images.deletes, timezone=zone, table=TABLE, stats=ConversionStats()
    )
    got = _through_parquet(table, tmp_path / "deleted.parquet")
    _assert_same(got, _rows(images.batch_updated[zone], DELETED))


def test_without_none_sources_only_an_empty_nullable_set_differs(images: Images) -> None:
    """What the values alone lose: an empty SET in a nullable column reads as NULL (a NOT
    NULL one is still ''), and zero DATE/DATETIME values are null without being counted."""
    stats = ConversionStats()
    typed = binlog_table(
        images.plans, images.raw_inserts, timezone="UTC", table=TABLE, stats=stats
    ).sort_by("id")
    batch = images.batch_inserted["UTC"]
    for name in batch.column_names:
        got, want = typed.column(name).to_pylist(), batch.column(name).to_pylist()
        if name == "s":
            assert [g if w != "" else "" for g, w in zip(got, want, strict=True)] == want
            assert got.count(None) == want.count(None) + want.count("")
        else:
            assert got == want, name
    assert stats.zero_dates == {"ts0": 1}
