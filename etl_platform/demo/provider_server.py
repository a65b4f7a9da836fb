"""A small external provider on loopback, for the tests and for trying `providers:` by hand:
customer risk scores keyed by customer id, as paginated JSON behind a bearer token.

`GET /risk?cursor=N` answers `{"items": [...], "next": "/risk?cursor=M"}` (the `next_url`
style; `next` is null on the last page) and `GET /risk?page=P&per_page=K` answers
`{"items": [...]}` (the `page` style), at most `max_page_size` records a page whatever
`per_page` asks (as many APIs cap it). A wrong or missing token is a 401. `mode` is what it
does: `ok`; `fail` (a 500 for the next `failures` requests, then ok; `failures=None`: always);
`slow` (waits `delay` seconds before answering).

    python -m etl_platform.demo.provider_server --port 8766 --token demo-token
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

SEGMENTS = ("low", "medium", "high")


def risk_scores(customers: int) -> list[dict[str, Any]]:
    """One deterministic risk record per customer id 1..customers."""
    as_of = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return [
        {
            "customer_id": i,
            "risk_score": round((i * 37 % 100) / 100, 2),
            "segment": SEGMENTS[i % 3],
            "scored_at": (as_of + dt.timedelta(minutes=i)).isoformat(),
        }
        for i in range(1, customers + 1)
    ]


@dataclasses.dataclass
class ProviderState:
    """What the server serves and how it behaves; change it while it runs."""

    records: list[dict[str, Any]]
    token: str | None
    page_size: int = 10
    max_page_size: int | None = None
    mode: str = "ok"
    failures: int | None = None
    delay: float = 0.0
    requests: int = 0
    auth_seen: list[str | None] = dataclasses.field(default_factory=list)
    released: threading.Event = dataclasses.field(default_factory=threading.Event)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests' output is theirs."""

    def do_GET(self) -> None:
        state = self.server.state
        state.requests += 1
        auth = self.headers.get("Authorization")
        state.auth_seen.append(auth)
        if state.mode == "slow":
            state.released.wait(state.delay)
        if state.mode == "fail" and (state.failures is None or state.failures > 0):
            if state.failures is not None:
                state.failures -= 1
            return self._json(500, {"error": "provider is having a bad day"})
        if state.token is not None and auth != f"Bearer {state.token}":
            return self._json(401, {"error": "invalid or missing token"})
        url = urlsplit(self.path)
        if url.path != "/risk":
            return self._json(404, {"error": f"no such path {url.path}"})
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if "page" in query:
            size = int(query.get("per_page", state.page_size))
            if state.max_page_size is not None:
                size = min(size, state.max_page_size)
            start = (int(query["page"]) - 1) * size
            return self._json(200, {"items": state.records[start : start + size]})
        start = int(query.get("cursor", 0))
        end = start + state.page_size
        following = f"/risk?cursor={end}" if end < len(state.records) else None
        return self._json(200, {"items": state.records[start:end], "next": following})

    def _json(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        # A client that gave up (a timeout) is not there to answer.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: ProviderState, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.state = state


class ProviderServer:
    """The provider in a thread on a free loopback port: `with ProviderServer(...) as s:`."""

    def __init__(self, state: ProviderState) -> None:
        self.state = state
        self._server = _Server(state)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/risk"

    def __enter__(self) -> ProviderServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.state.released.set()  # a slow answer in flight ends now
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


#: Where the demo's sources.yaml finds its provider, and the token it sends.
DEMO_PROVIDER_URL_ENV = "ETL_PLATFORM_DEMO_PROVIDER_URL"
DEMO_PROVIDER_TOKEN_ENV = "ETL_PLATFORM_DEMO_PROVIDER_TOKEN"


@contextlib.contextmanager
def serve_demo_provider(customers: int = 250) -> Iterator[ProviderServer]:
    """The demo's provider on a free loopback port for as long as the block runs, its URL and a
    fresh token in this process's environment (the runs it starts inherit them)."""
    import os
    import secrets

    token = secrets.token_urlsafe(16)
    state = ProviderState(risk_scores(customers), token=token, page_size=50)
    saved = {n: os.environ.get(n) for n in (DEMO_PROVIDER_URL_ENV, DEMO_PROVIDER_TOKEN_ENV)}
    with ProviderServer(state) as server:
        os.environ[DEMO_PROVIDER_URL_ENV] = server.url
        os.environ[DEMO_PROVIDER_TOKEN_ENV] = f"Bearer {token}"  # the header's whole value
        try:
            yield server
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--token", default="demo-token")
    parser.add_argument("--customers", type=int, default=250)
    parser.add_argument("--page-size", type=int, default=50)
    parser.add_argument("--mode", choices=("ok", "fail", "slow"), default="ok")
    parser.add_argument("--delay", type=float, default=60.0, help="seconds, for --mode slow")
    args = parser.parse_args()
    state = ProviderState(
        risk_scores(args.customers),
        args.token,
        page_size=args.page_size,
        mode=args.mode,
        delay=args.delay,
    )
    server = _Server(state, args.port)
    print(f"provider on http://127.0.0.1:{args.port}/risk (token {args.token!r}), Ctrl-C stops")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
