"""Read an external provider's HTTP API whole, page by page, into one typed Arrow table, and
replace its lake file atomically (docs/providers.md).

Each request (a page) is retried on its own: a 5xx, a 429, a timeout or a refused or dropped
connection waits `backoff * 2**attempt` (or the server's `Retry-After`, capped) and tries
again, so a blip on page 7 does not read pages 1-6 again. Any other 4xx fails at once. The
token goes only to the provider's own scheme, host and port (pages and redirects elsewhere
are refused) and never into an error, a log line or metadata.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from etl_platform.load.atomic_file import write_atomic
from etl_platform.load.lake import parquet_write_options
from etl_platform.specs.providers import NextUrlPaging, PageNumberPaging, ProviderSpec
from etl_platform.transform.dtypes import cast_strings, parse_type, storage_dtype

#: A page larger than this is refused: provider data is reference data, held in memory whole.
MAX_PAGE_BYTES = 64 * 2**20
#: What an error quotes of a refused response's body.
BODY_EXCERPT_CHARS = 200
#: When the read finished (UTC), on every row: the version column a lookup would order by.
FETCHED_AT = "_fetched_at"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504}) | frozenset(range(505, 600))

Sleep = Callable[[float], None]


class ProviderError(RuntimeError):
    """A provider read that failed; the message names the provider and carries no secret."""


@dataclasses.dataclass(frozen=True)
class ProviderRead:
    table: pa.Table
    pages: int
    retries: int
    duplicates: int


def provider_path(lake_root: Path, name: str) -> Path:
    """`<lake>/providers/<name>/data.parquet`: one file, replaced whole on each refresh."""
    return lake_root / "providers" / name / "data.parquet"


def shown_url(url: str) -> str:
    """The URL as errors and metadata show it: no user info, query values masked (a next-page
    URL may carry a signed cursor), no fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    query = "&".join(f"{k}=..." for k, _ in parse_qsl(parts.query, keep_blank_values=True))
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only on the provider's origin: urllib would send the token along."""

    def __init__(self, origin: tuple[str, str, int | None], name: str) -> None:
        self.origin, self.name = origin, name

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if _origin(newurl) != self.origin:
            raise ProviderError(
                f"provider {self.name!r}: {shown_url(req.full_url)} redirects to another origin "
                f"({shown_url(newurl)}); refused so the token stays with the provider"
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _Retryable(Exception):
    """A failure worth another try: its message, and the server's Retry-After if it sent one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: the exponential backoff is used instead


def _excerpt(body: bytes, token: str | None) -> str:
    text = body[: BODY_EXCERPT_CHARS * 4].decode("utf-8", "replace")
    for secret in {token or "", *(token or "").split()}:  # also the token after `Bearer `
        if len(secret) >= 4:
            text = text.replace(secret, "***")  # a server that echoes the request's headers
    text = " ".join(text.split())
    return text[:BODY_EXCERPT_CHARS]


@dataclasses.dataclass
class _Client:
    name: str
    spec: ProviderSpec
    token: str | None
    sleep: Sleep
    retries: int = 0

    def __post_init__(self) -> None:
        self.origin = _origin(self.spec.url)
        self.opener = urllib.request.build_opener(_SameOriginRedirects(self.origin, self.name))

    def get(self, url: str) -> Any:
        """One page's JSON body, retried per `spec.retry`."""
        if _origin(url) != self.origin:
            raise ProviderError(
                f"provider {self.name!r}: the next page {shown_url(url)} is on another origin "
                f"than {shown_url(self.spec.url)}; refused so the token stays with the provider"
            )
        policy = self.spec.retry
        for attempt in range(policy.max_retries + 1):
            try:
                return self._once(url)
            except _Retryable as e:
                if attempt == policy.max_retries:
                    raise ProviderError(
                        f"provider {self.name!r}: {e} (gave up after {attempt + 1} attempts; "
                        f"retry.max_retries is {policy.max_retries})"
                    ) from None
                delay = min(policy.backoff_seconds * 2**attempt, policy.max_backoff_seconds)
                if e.retry_after is not None:
                    delay = min(max(delay, e.retry_after), policy.max_backoff_seconds)
                self.retries += 1
                self.sleep(delay)
        raise AssertionError("unreachable")

    def _once(self, url: str) -> Any:
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        if self.token is not None:
            request.add_header(self.spec.auth_header, self.token)
        shown, timeout = shown_url(url), self.spec.timeout_seconds
        try:
            with self.opener.open(request, timeout=timeout) as response:
                body = response.read(MAX_PAGE_BYTES + 1)
        except urllib.error.HTTPError as e:
            body = e.read(BODY_EXCERPT_CHARS * 4) if e.fp is not None else b""
            said = f"GET {shown} answered {e.code}: {_excerpt(body, self.token)!r}"
            if e.code in RETRY_STATUSES:
                raise _Retryable(said, _retry_after(e.headers.get("Retry-After"))) from None
            raise ProviderError(f"provider {self.name!r}: {said}") from None
        except TimeoutError as e:
            raise _Retryable(f"GET {shown} timed out after {timeout:g}s ({e})") from None
        except urllib.error.URLError as e:
            if isinstance(e.reason, TimeoutError):
                raise _Retryable(f"GET {shown} timed out after {timeout:g}s") from None
            raise _Retryable(f"GET {shown} failed to connect: {e.reason}") from None
        except (ConnectionError, http.client.HTTPException) as e:
            raise _Retryable(f"GET {shown} lost the connection: {type(e).__name__}") from None
        if len(body) > MAX_PAGE_BYTES:
            raise ProviderError(
                f"provider {self.name!r}: GET {shown} sent a page over {MAX_PAGE_BYTES} bytes"
            )
        try:
            return json.loads(body)
        except ValueError:
            raise ProviderError(
                f"provider {self.name!r}: GET {shown} did not answer JSON: "
                f"{_excerpt(body, self.token)!r}"
            ) from None


def _at(body: Any, path: str | None) -> Any:
    if path is None:
        return body
    for key in path.split("."):
        if not isinstance(body, dict):
            return None
        body = body.get(key)
    return body


def _with_params(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    return urlunsplit(parts._replace(query=urlencode([*query, *params.items()])))


def _pages(client: _Client) -> Iterator[tuple[str, list[dict]]]:
    """(URL, records) per page, fetched one at a time, until the last page or `max_pages`.

    Page numbers end only at an empty page: a server may cap the page below `size` (50 records
    for `per_page=100`), so a short page is not the last one. The empty page that ends the read
    is fetched but not counted, even past `max_pages`."""
    spec, name = client.spec, client.name
    paging = spec.pagination
    url: str | None = spec.url
    numbered = isinstance(paging, PageNumberPaging)
    number = paging.first_page if isinstance(paging, PageNumberPaging) else 0
    too_many = ProviderError(
        f"provider {name!r}: more than max_pages ({spec.max_pages}) pages; raise "
        "max_pages or check the pagination settings (the previous file is kept)"
    )
    for fetched in range(spec.max_pages + 1):
        if fetched == spec.max_pages and not numbered:
            raise too_many
        if isinstance(paging, PageNumberPaging):
            url = _with_params(
                spec.url, {paging.page_param: str(number), paging.size_param: str(paging.size)}
            )
        assert url is not None
        body = client.get(url)
        records = _at(body, spec.items)
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            where = "the body" if spec.items is None else f"items path {spec.items!r}"
            raise ProviderError(
                f"provider {name!r}: GET {shown_url(url)}: {where} is not a list of objects"
            )
        if numbered and fetched > 0 and not records:
            return
        if fetched == spec.max_pages:
            raise too_many
        yield url, records
        if isinstance(paging, PageNumberPaging):
            if not records:
                return
            number += 1
        else:
            url = _next_url(body, url, paging)
            if url is None:
                return


def _next_url(body: Any, current: str, paging: NextUrlPaging) -> str | None:
    link = _at(body, paging.next)
    if link in (None, ""):
        return None
    if not isinstance(link, str):
        raise ProviderError(f"pagination.next {paging.next!r} is not a URL: {type(link).__name__}")
    return urljoin(current, link)


def _text(value: Any) -> str | None:
    """A JSON value as the text `cast_strings` reads (the view's JSON paths' rules)."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def records_frame(name: str, spec: ProviderSpec, records: list[dict]) -> pl.DataFrame:
    """The records as a frame: the declared `columns` cast by the view spec's rules (a value
    that does not fit fails, naming the column and the value), else what polars infers."""
    if spec.columns is None:
        if not records:
            return pl.DataFrame({k: pl.Series(k, [], pl.String) for k in spec.primary_key})
        try:
            frame = pl.from_dicts(records, infer_schema_length=None)
        except Exception as e:  # polars raises several types for mixed values
            raise ProviderError(
                f"provider {name!r}: cannot infer the records' types ({type(e).__name__}: "
                f"{str(e)[:200]}); declare columns with their types"
            ) from None
        # polars makes a value null when it does not fit the type it inferred (a number
        # among objects): refuse rather than lose it.
        for column in frame.columns:
            given = sum(r.get(column) is not None for r in records)
            if given != frame.height - frame[column].null_count():
                raise ProviderError(
                    f"provider {name!r}: key {column!r} holds values of mixed types (inferred "
                    f"{frame.schema[column]}); declare columns with their types"
                )
        return frame
    series = []
    for column, type_text in spec.columns.items():
        dtype = parse_type(type_text)
        text = pl.Series(column, [_text(r.get(column)) for r in records], pl.String)
        typed, wrong = cast_strings(text, dtype)
        if wrong.any():
            bad = text.filter(wrong)
            raise ProviderError(
                f"provider {name!r}: columns.{column} is {type_text}, but {wrong.sum()} record(s) "
                f"hold another value, e.g. {bad[0][:80]!r}"
            )
        series.append(typed.cast(storage_dtype(dtype)))
    return pl.DataFrame(series)


def _keyed(name: str, spec: ProviderSpec, frame: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Every record has its key; when a key repeats (a page shifted during the read), the last
    one read wins."""
    missing = [k for k in spec.primary_key if k not in frame.columns]
    if missing:
        raise ProviderError(f"provider {name!r}: the records have no primary_key {missing}")
    nulls = frame.filter(pl.any_horizontal(pl.col(k).is_null() for k in spec.primary_key))
    if nulls.height:
        raise ProviderError(
            f"provider {name!r}: {nulls.height} record(s) have no value for primary_key "
            f"{spec.primary_key}"
        )
    unique = frame.unique(subset=spec.primary_key, keep="last", maintain_order=True)
    return unique, frame.height - unique.height


def read_provider(
    name: str, spec: ProviderSpec, token: str | None, *, sleep: Sleep = time.sleep
) -> ProviderRead:
    """Every page of the provider, as one table keyed by `primary_key`, plus `_fetched_at`."""
    client = _Client(name, spec, token, sleep)
    frames, pages = [], 0
    for _url, records in _pages(client):
        pages += 1
        if records:
            frames.append(records_frame(name, spec, records))
    frame = pl.concat(frames, how="diagonal_relaxed") if frames else records_frame(name, spec, [])
    frame, duplicates = _keyed(name, spec, frame)
    fetched_at = dt.datetime.now(dt.UTC)
    frame = frame.with_columns(pl.lit(fetched_at, pl.Datetime("us", "UTC")).alias(FETCHED_AT))
    return ProviderRead(frame.to_arrow(), pages, client.retries, duplicates)


def write_provider_file(path: Path, table: pa.Table) -> None:
    """Replace the provider's file whole: a reader sees the old one or the new one."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, **parquet_write_options("views"))
    write_atomic(path, sink.getvalue().to_pybytes())
