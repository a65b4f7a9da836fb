from pathlib import Path

import pytest

from etl_platform.env import DEFAULTS_DIR
from etl_platform.extract.connection import MySqlEndpoint, endpoint_for
from etl_platform.specs.errors import SpecError
from etl_platform.specs.loader import load_sources


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(text)
    return path


def test_demo_sources_load() -> None:
    spec = load_sources(DEFAULTS_DIR / "sources.yaml")
    assert len(spec.shards) == 12
    assert set(spec.tables) == {"customers", "products", "orders", "order_events"}
    assert spec.tables["orders"].json_columns == ["payload"]


def test_every_problem_is_reported_with_file_and_field(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
timezone: Mars/Olympus
start: 2024-01-01
shards:
  shard_00: {url_env: A, host: h}
  "bad-name": {url_env: B}
tables:
  orders: {cursor: updated_at, primary_key: []}
  events: {primary_key: [id], jsno: [x]}
""",
    )
    with pytest.raises(SpecError) as info:
        load_sources(path)
    message = str(info.value)
    assert str(path) in message
    for expected in (
        "timezone: unknown time zone 'Mars/Olympus'",
        "shards.shard_00: give either url_env or host",
        "shards.bad-name.[key]: identifier 'bad-name' is not a plain name",
        "tables.orders.primary_key: List should have at least 1 item",
        "tables.events.jsno: unknown field",
    ):
        assert expected in message
    assert len(info.value.problems) == 5


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "start: 2024-01-01\nshards: [\n")
    with pytest.raises(SpecError, match=r"sources.yaml: line \d+, column \d+: invalid YAML"):
        load_sources(path)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"nope\.yaml: <top level>: file not found"):
        load_sources(tmp_path / "nope.yaml")


def test_unknown_shard_and_excluded_key_are_refused(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
start: 2024-01-01
shards: {s0: {url_env: U}}
tables:
  t: {primary_key: [id], shards: [s1], exclude_columns: [id]}
""",
    )
    with pytest.raises(SpecError) as info:
        load_sources(path)
    assert "tables.t.shards: unknown shard 's1'" in str(info.value)
    assert "tables.t.exclude_columns: cannot exclude key/cursor column(s) ['id']" in str(info.value)


def test_credentials_come_from_the_environment_and_stay_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(
        tmp_path,
        """
start: 2024-01-01
shards:
  s0: {url_env: S0_URL, database: shop_00}
  s1: {host: db1.internal, port: 3307, user: reader, password_env: S1_PASSWORD}
tables: {t: {primary_key: [id]}}
""",
    )
    spec = load_sources(path)
    with pytest.raises(LookupError, match="shard s0: environment variable S0_URL"):
        endpoint_for("s0", spec.shards["s0"])
    monkeypatch.setenv("S0_URL", "mysql://reader:s3cr%40t@10.0.0.5:3306/ignored")
    monkeypatch.setenv("S1_PASSWORD", "hunter2")
    e0 = endpoint_for("s0", spec.shards["s0"])
    e1 = endpoint_for("s1", spec.shards["s1"])
    assert (e0.host, e0.port, e0.user, e0.password, e0.database) == (
        "10.0.0.5",
        3306,
        "reader",
        "s3cr@t",
        "shop_00",
    )
    assert (e1.host, e1.port, e1.password) == ("db1.internal", 3307, "hunter2")
    for endpoint, secret in ((e0, "s3cr@t"), (e1, "hunter2")):
        assert secret not in repr(endpoint)
        assert secret not in endpoint.describe()


def test_url_scheme_is_checked() -> None:
    with pytest.raises(ValueError, match="must start with mysql://"):
        MySqlEndpoint.from_url("postgres://x@h/db")


def test_endpoint_errors_name_the_shard_and_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(
        tmp_path,
        """
start: 2024-01-01
shards:
  s0: {url_env: S0_URL}
  s1: {host: db1.internal, user: reader, password_env: S1_PASSWORD}
tables: {t: {primary_key: [id]}}
""",
    )
    spec = load_sources(path)
    monkeypatch.setenv("S0_URL", "postgres://x@h/db")
    monkeypatch.delenv("S1_PASSWORD", raising=False)
    with pytest.raises(ValueError, match="shard s0: S0_URL: MySQL URL must start with mysql://"):
        endpoint_for("s0", spec.shards["s0"])
    with pytest.raises(
        LookupError, match=r"shard s1: environment variable S1_PASSWORD \(password_env\) is not set"
    ):
        endpoint_for("s1", spec.shards["s1"])


def test_monthly_partitions_are_refused_where_days_are_the_unit(tmp_path: Path) -> None:
    """A CDC table's capture reports days and a snapshot table has no partitions: `partitions:
    monthly` on either is named; on a batch table it loads."""
    path = _write(
        tmp_path,
        """
start: 2024-01-01
shards:
  shard_00: {url_env: A}
tables:
  salaries: {primary_key: [id], cursor: from_date, partitions: monthly}
  orders: {primary_key: [id], mode: cdc, partitions: monthly}
  departments: {primary_key: [id], mode: snapshot, partitions: monthly}
""",
    )
    with pytest.raises(SpecError) as info:
        load_sources(path)
    message = str(info.value)
    assert "tables.orders.partitions: a CDC table (mode: cdc) is partitioned daily" in message
    assert "tables.departments.partitions: a snapshot table (mode: snapshot) takes no" in message
    assert "salaries" not in message
    weekly = path.read_text().replace(
        "cursor: from_date, partitions: monthly", "partitions: weekly"
    )
    with pytest.raises(SpecError, match=r"tables\.salaries\.partitions: Input should be"):
        load_sources(_write(tmp_path, weekly))
