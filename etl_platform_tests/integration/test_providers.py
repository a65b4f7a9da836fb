"""External providers against a real HTTP server on loopback (`demo.provider_server`): every
page read, the token sent and kept secret, retries with backoff, timeouts, the previous file
kept on failure, and a view that waits for its provider in the asset graph and in automation."""

from __future__ import annotations

import datetime as dt
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow.parquet as pq
import pytest

from etl_platform.definitions import build_definitions
from etl_platform.demo.provider_server import ProviderServer, ProviderState, risk_scores
from etl_platform.env import DEFAULTS_DIR, Environment
from etl_platform.extract.http_provider import ProviderError, provider_path, read_provider
from etl_platform.specs.providers import ProviderSpec

pytestmark = pytest.mark.integration

TOKEN = "s3cret-t0ken-value"
PROVIDER = dg.AssetKey(["providers", "risk"])
VIEW = dg.AssetKey(["views", "orders_enriched"])


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ProviderServer]:
    """25 customers, 10 a page: three pages."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # a proxy set for the machine is not for loopback
    with ProviderServer(ProviderState(risk_scores(25), TOKEN, page_size=10)) as running:
        yield running


def _spec(url: str, **changes: object) -> ProviderSpec:
    return ProviderSpec.model_validate(
        {
            "url": url,
            "auth_env": "RISK_TOKEN",
            "primary_key": ["customer_id"],
            "retry": {"max_retries": 2, "backoff_seconds": 0.5},
            "timeout_seconds": 5,
            **changes,
        }
    )


class _Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.mark.parametrize("paging", [{"style": "next_url"}, {"style": "page", "size": 10}])
def test_every_page_is_read_with_the_token(server: ProviderServer, paging: dict) -> None:
    read = read_provider("risk", _spec(server.url, pagination=paging), f"Bearer {TOKEN}")
    assert read.pages == 3 and read.retries == 0 and read.duplicates == 0
    assert read.table.num_rows == 25
    assert sorted(read.table["customer_id"].to_pylist()) == list(range(1, 26))
    requests = 4 if paging["style"] == "page" else 3  # page numbers end at an empty page
    assert server.state.auth_seen == [f"Bearer {TOKEN}"] * requests


def test_a_server_that_caps_the_page_size_is_read_to_its_last_page(
    server: ProviderServer,
) -> None:
    """`size: 100` against a server that answers at most 10 a page: the short first page is
    not the last one; the read goes on until an empty page."""
    server.state.max_page_size = 10
    read = read_provider(
        "risk", _spec(server.url, pagination={"style": "page", "size": 100}), f"Bearer {TOKEN}"
    )
    assert read.table.num_rows == 25 and read.pages == 3
    assert sorted(read.table["customer_id"].to_pylist()) == list(range(1, 26))
    assert server.state.requests == 4


def test_the_empty_page_that_ends_a_read_does_not_count_against_max_pages(
    server: ProviderServer,
) -> None:
    paging = {"style": "page", "size": 10}
    assert (
        read_provider(
            "risk", _spec(server.url, pagination=paging, max_pages=3), f"Bearer {TOKEN}"
        ).pages
        == 3
    )
    with pytest.raises(ProviderError, match=r"more than max_pages \(2\)"):
        read_provider("risk", _spec(server.url, pagination=paging, max_pages=2), f"Bearer {TOKEN}")


def test_a_wrong_token_fails_at_once_without_showing_it(server: ProviderServer) -> None:
    sleeps = _Sleeps()
    with pytest.raises(ProviderError) as e:
        read_provider("risk", _spec(server.url), "Bearer not-the-token", sleep=sleeps)
    message = str(e.value)
    assert "provider 'risk'" in message and "answered 401" in message
    assert server.url in message and "invalid or missing token" in message
    assert "not-the-token" not in message and TOKEN not in message
    assert sleeps == [] and server.state.requests == 1  # a 401 is not retried


def test_two_500s_are_retried_with_backoff(server: ProviderServer) -> None:
    server.state.mode, server.state.failures = "fail", 2
    sleeps = _Sleeps()
    read = read_provider("risk", _spec(server.url), f"Bearer {TOKEN}", sleep=sleeps)
    assert read.table.num_rows == 25 and read.pages == 3
    assert read.retries == 2 and sleeps == [0.5, 1.0]
    assert server.state.requests == 5


def test_a_slow_provider_times_out_clearly(server: ProviderServer) -> None:
    server.state.mode, server.state.delay = "slow", 10.0
    spec = _spec(server.url, timeout_seconds=0.3, retry={"max_retries": 1, "backoff_seconds": 0})
    started = time.monotonic()
    with pytest.raises(ProviderError) as e:
        read_provider("risk", spec, f"Bearer {TOKEN}", sleep=_Sleeps())
    assert time.monotonic() - started < 5
    assert "timed out after 0.3s" in str(e.value) and "gave up after 2 attempts" in str(e.value)


# The platform: a view on the demo's tables that waits for the provider.


def _sources(start: dt.date, url: str, max_retries: int = 2, timeout: float = 5) -> str:
    return f"""
start: {start}
shards:
  shard_00: {{url_env: ETL_TEST_UNUSED_URL, database: shop_00}}
tables:
  customers: {{primary_key: [id], json: [profile]}}
  orders:    {{primary_key: [id], json: [payload]}}
providers:
  risk:
    url: {url}
    auth_env: ETL_TEST_RISK_TOKEN
    primary_key: [customer_id]
    columns: {{customer_id: int64, risk_score: "decimal(4,2)", segment: string}}
    retry: {{max_retries: {max_retries}, backoff_seconds: 0}}
    timeout_seconds: {timeout}
"""


@pytest.fixture
def platform(
    server: ProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., dg.Definitions]:
    views = tmp_path / "views"
    shutil.copytree(DEFAULTS_DIR / "views" / "orders_enriched", views / "orders_enriched")
    spec = views / "orders_enriched" / "defs.yaml"
    spec.write_text(spec.read_text() + "  refresh: [risk]\n")
    shutil.copy(DEFAULTS_DIR / "sources.schema.yaml", tmp_path / "sources.schema.yaml")
    monkeypatch.setenv("ETL_PLATFORM_SOURCES", str(tmp_path / "sources.yaml"))
    monkeypatch.setenv("ETL_PLATFORM_VIEWS_DIR", str(views))
    monkeypatch.setenv("ETL_PLATFORM_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("ETL_PLATFORM_DUCKDB", str(tmp_path / "lake.duckdb"))
    monkeypatch.setenv("ETL_TEST_UNUSED_URL", "mysql://root@127.0.0.1:1/")
    monkeypatch.setenv("ETL_TEST_RISK_TOKEN", f"Bearer {TOKEN}")

    def build(**kwargs: object) -> dg.Definitions:
        start = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=3)
        (tmp_path / "sources.yaml").write_text(_sources(start, server.url, **kwargs))
        return build_definitions(Environment.TEST)

    return build


def _refresh(defs: dg.Definitions, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [defs.resolve_assets_def(PROVIDER)],
        instance=instance,
        selection=[PROVIDER],
        raise_on_error=False,
    )


def test_the_asset_keeps_the_previous_file_when_the_provider_fails(
    platform, server: ProviderServer, tmp_path: Path
) -> None:
    defs = platform()
    with dg.instance_for_test() as instance:
        assert _refresh(defs, instance).success
        mat = instance.get_latest_materialization_event(PROVIDER).asset_materialization
        meta = {k: v.value for k, v in mat.metadata.items()}
        assert meta["dagster/row_count"] == 25 and meta["pages"] == 3 and meta["retries"] == 0
        assert meta["url"] == server.url and "| customer_id |" in meta["preview"]
        assert TOKEN not in str(mat.metadata)
        path = provider_path(tmp_path / "lake", "risk")
        before = pq.read_table(path)
        assert before.num_rows == 25 and str(before.schema.field("risk_score").type) == (
            "decimal128(4, 2)"
        )
        with duckdb.connect(str(tmp_path / "lake.duckdb"), read_only=True) as conn:
            assert conn.sql("SELECT count(*) FROM providers_risk").fetchall() == [(25,)]

        server.state.mode, server.state.failures = "fail", None  # always 500
        failed = _refresh(defs, instance)
        assert not failed.success
        error = str(failed.get_step_failure_events()[0].event_specific_data.error)
        assert "answered 500" in error and "gave up after 3 attempts" in error
        assert TOKEN not in error
        assert pq.read_table(path).equals(before)
        assert not list(path.parent.glob(".data.parquet.*"))  # no temporary file left


def test_a_view_waits_for_its_provider(platform, server: ProviderServer) -> None:
    """In the graph, the view depends on the provider; its automation requests it only once
    the provider was read, not while a read runs, and not after a failed one."""
    defs = platform(max_retries=0, timeout=60)
    graph = defs.resolve_asset_graph()
    assert PROVIDER in graph.get(VIEW).parent_keys
    assert defs.resolve_assets_def(PROVIDER).group_names_by_key[PROVIDER] == "providers"
    view_only = dg.AssetSelection.assets(VIEW)
    today = dt.datetime.now(dt.UTC).date().isoformat()

    def requested(tick: dg.EvaluateAutomationConditionsResult) -> bool:
        return today in set(tick.get_requested_partitions(VIEW))

    with dg.instance_for_test() as instance:
        tick = dg.evaluate_automation_conditions(defs, instance, asset_selection=view_only)
        assert not requested(tick)  # the provider was never read

        server.state.mode, server.state.delay = "slow", 30.0
        running = threading.Thread(target=_refresh, args=(defs, instance))
        running.start()
        try:
            deadline = time.monotonic() + 20
            while server.state.requests == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert server.state.requests == 1  # the read is under way
            tick = dg.evaluate_automation_conditions(
                defs, instance, asset_selection=view_only, cursor=tick.cursor
            )
            assert not requested(tick)  # the provider is in progress
        finally:
            server.state.released.set()
            running.join(timeout=30)
        assert instance.get_latest_materialization_event(PROVIDER) is not None
        tick = dg.evaluate_automation_conditions(
            defs, instance, asset_selection=view_only, cursor=tick.cursor
        )
        assert requested(tick)  # read: the view builds
        tick = dg.evaluate_automation_conditions(
            defs, instance, asset_selection=view_only, cursor=tick.cursor
        )
        assert not requested(tick)  # handled: nothing new

        server.state.mode = "ok"
        assert _refresh(defs, instance).success  # new provider data...
        server.state.mode, server.state.failures = "fail", None
        assert not _refresh(defs, instance).success  # ...then a failed read
        tick = dg.evaluate_automation_conditions(
            defs, instance, asset_selection=view_only, cursor=tick.cursor
        )
        assert not requested(tick)  # not built while its provider's latest read failed
        server.state.mode = "ok"
        assert _refresh(defs, instance).success
        tick = dg.evaluate_automation_conditions(
            defs, instance, asset_selection=view_only, cursor=tick.cursor
        )
        assert requested(tick)
