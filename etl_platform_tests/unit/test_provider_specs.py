"""The `providers:` contract of sources.yaml and a view's `refresh:`: shapes, secrets kept out
of the file, and references checked with the file and the field named."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pydantic
import pytest

from etl_platform.env import DEFAULTS_DIR
from etl_platform.extract.http_provider import ProviderError, records_frame, shown_url
from etl_platform.specs.errors import SpecError, SpecErrors
from etl_platform.specs.loader import load_source_schema, load_sources
from etl_platform.specs.providers import NextUrlPaging, PageNumberPaging, ProviderSpec
from etl_platform.specs.source_schema import schema_path_for
from etl_platform.specs.view_loader import load_views

BASE = {"url": "https://risk.example.com/v1/scores", "primary_key": ["customer_id"]}


def _spec(**changes: object) -> ProviderSpec:
    return ProviderSpec.model_validate({**BASE, **changes})


def test_defaults() -> None:
    spec = _spec()
    assert spec.auth_header == "Authorization" and spec.auth_env is None
    assert spec.items == "items" and spec.pagination == NextUrlPaging(next="next")
    assert spec.retry.max_retries == 3 and spec.timeout_seconds == 30
    assert spec.refresh_cron == "*/15 * * * *" and spec.columns is None


def test_page_number_paging() -> None:
    spec = _spec(pagination={"style": "page", "size": 50, "size_param": "limit"})
    assert spec.pagination == PageNumberPaging(style="page", size=50, size_param="limit")


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"url": "ftp://risk.example.com/x"}, "http:// or https://"),
        ({"url": "https://user:hunter22@risk.example.com/x"}, "credentials in the URL"),
        ({"url": "https://risk.example.com/x?api_key=abc"}, "look like credentials"),
        ({"url": "https://risk.example.com/x?access_token=abc"}, "look like credentials"),
        ({"auth_env": "Bearer abc.def"}, "not an environment variable name"),
        ({"auth_header": "X Token"}, "not an HTTP header name"),
        ({"refresh_cron": "every 15 minutes"}, "not a cron expression"),
        ({"columns": {"customer_id": "int64", "score": "float99"}}, "float99"),
        ({"columns": {"score": "float64"}}, "must be among columns"),
        ({"pagination": {"style": "offset"}}, "style"),
        ({"items": "data..rows"}, "bad body path"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"primary_key": []}, "primary_key"),
        ({"token": "abc"}, "token"),
    ],
)
def test_refused(changes: dict, said: str) -> None:
    with pytest.raises(pydantic.ValidationError) as e:
        _spec(**changes)
    assert said in str(e.value)


def test_plain_query_parameters_are_kept() -> None:
    assert _spec(url="https://risk.example.com/x?region=eu&v=2").url.endswith("region=eu&v=2")


def test_shown_url_masks_query_values_and_user_info() -> None:
    assert shown_url("https://u:p@h.example:8443/a/b?cursor=s3cr3t&page=2#f") == (
        "https://h.example:8443/a/b?cursor=...&page=..."
    )


def _sources_yaml(tmp_path: Path, providers: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(
        f"""
start: 2025-01-01
shards:
  shard_00: {{url_env: ETL_TEST_URL, database: shop_00}}
tables:
  customers: {{primary_key: [id], json: [profile]}}
  orders:    {{primary_key: [id], json: [payload]}}
{providers}
"""
    )
    return path


def test_sources_yaml_declares_providers(tmp_path: Path) -> None:
    path = _sources_yaml(
        tmp_path,
        """providers:
  risk:
    url: https://risk.example.com/v1/scores
    auth_env: RISK_TOKEN
    primary_key: [customer_id]
    pagination: {style: page, size: 200}
    retry: {max_retries: 5, backoff_seconds: 0.5}
    columns: {customer_id: int64, risk_score: "decimal(4,2)", scored_at: timestamp}
""",
    )
    sources = load_sources(path)
    assert list(sources.providers) == ["risk"]
    assert sources.providers["risk"].retry.max_retries == 5
    assert load_sources(_sources_yaml(tmp_path, "")).providers == {}


def test_a_bad_provider_is_named_with_its_field(tmp_path: Path) -> None:
    path = _sources_yaml(
        tmp_path, "providers:\n  risk: {url: 'https://a:b@x.example/', primary_key: [id]}\n"
    )
    with pytest.raises(SpecError) as e:
        load_sources(path)
    assert "providers.risk.url" in str(e.value) and "a:b" not in str(e.value)


def _views_with_refresh(tmp_path: Path, refresh: str) -> Path:
    views = tmp_path / "views"
    shutil.copytree(DEFAULTS_DIR / "views" / "orders_enriched", views / "orders_enriched")
    spec = views / "orders_enriched" / "defs.yaml"
    spec.write_text(spec.read_text() + f"  refresh: {refresh}\n")
    return views


def test_a_view_waits_only_for_declared_providers(tmp_path: Path) -> None:
    path = _sources_yaml(
        tmp_path, "providers:\n  risk: {url: 'https://x.example/', primary_key: [id]}\n"
    )
    sources = load_sources(path)
    schema = load_source_schema(schema_path_for(DEFAULTS_DIR / "sources.yaml"))
    ok = load_views(_views_with_refresh(tmp_path / "ok", "[risk]"), sources, schema)
    assert ok[0].spec.refresh == ["risk"]
    with pytest.raises(SpecErrors) as e:
        load_views(_views_with_refresh(tmp_path / "bad", "[risk, scores]"), sources, schema)
    message = str(e.value)
    assert "orders_enriched/defs.yaml" in message
    assert "attributes.refresh.1: unknown provider 'scores'" in message
    assert "['risk']" in message


def test_declared_columns_are_cast_by_the_view_rules() -> None:
    spec = _spec(
        columns={"customer_id": "int64", "risk_score": "decimal(4,2)", "scored_at": "timestamp"}
    )
    frame = records_frame(
        "risk",
        spec,
        [
            {"customer_id": 1, "risk_score": 0.37, "scored_at": "2026-01-01T00:01:00+00:00"},
            {"customer_id": "2", "risk_score": "0.5", "extra": True},
        ],
    )
    assert frame.schema == pl.Schema(
        {
            "customer_id": pl.Int64,
            "risk_score": pl.Decimal(4, 2),
            "scored_at": pl.Datetime("us", "UTC"),
        }
    )
    assert frame["scored_at"].null_count() == 1
    with pytest.raises(ProviderError, match=r"columns.customer_id is int64.*'x1'"):
        records_frame("risk", spec, [{"customer_id": "x1"}])


def test_inferred_columns_and_a_clear_error_when_they_mix() -> None:
    frame = records_frame("risk", _spec(), [{"customer_id": 1, "tags": ["a"]}, {"customer_id": 2}])
    assert frame.height == 2 and frame.schema["customer_id"] == pl.Int64
    with pytest.raises(ProviderError, match="declare columns"):
        records_frame("risk", _spec(), [{"customer_id": 1}, {"customer_id": {"a": 1}}])
