"""The studio's Starlette app: one server-rendered page and the JSON routes its script calls.

The draft's YAML text travels with every call, so the server keeps no session: each call
parses it (ruamel.yaml, comments kept), applies the form's edits, checks it with the
platform's loader and answers with the new text, the form's values and the problems.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hmac
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from etl_platform.specs.sources import SourcesSpec
from etl_platform.studio.catalog import Catalog
from etl_platform.studio.checks import check_draft
from etl_platform.studio.draft import Draft, DraftError
from etl_platform.studio.json_sample import SampleUnavailable
from etl_platform.studio.preview import preview_day, raw_days
from etl_platform.studio.publish import (
    PublishRefused,
    publish_view,
    read_view,
    unified_diff,
    view_file,
)

HERE = Path(__file__).resolve().parent
TOKEN_COOKIE = "etl_studio_token"


@dataclasses.dataclass(frozen=True)
class StudioConfig:
    """What the studio reads and writes: the platform's own config, folder and lake."""

    catalog: Catalog
    views_dir: Path
    lake_root: Path
    #: Why publishing is off (the installed package's own views folder), or None.
    read_only: str | None = None
    #: Required on every request when set (a non-loopback address); never shown nor logged.
    token: str | None = None
    dagster_url: str | None = None
    #: Host names the Host header may carry: a page on another site cannot reach the studio
    #: through a DNS name of its own pointed at the loopback.
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost")

    @property
    def sources(self) -> SourcesSpec:
        return self.catalog.sources


class _TokenGate(BaseHTTPMiddleware):
    """Every request but the login form and static files carries the token, in a cookie set
    by the login form or an `Authorization: Bearer` header."""

    def __init__(self, app: Any, token: str) -> None:
        super().__init__(app)
        self.token = token

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if request.url.path in ("/login",) or request.url.path.startswith("/static/"):
            return await call_next(request)
        given = request.cookies.get(TOKEN_COOKIE) or ""
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:]
        if hmac.compare_digest(given.encode(), self.token.encode()):
            return await call_next(request)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": "the studio's token is required"}, status_code=401)
        return RedirectResponse("/login", status_code=303)


def create_app(config: StudioConfig) -> Starlette:
    templates = Jinja2Templates(directory=str(HERE / "templates"))

    def draft_answer(draft: Draft) -> dict[str, Any]:
        text = draft.text()
        _, problems = check_draft(
            text, draft.attributes.get("name"), config.sources, config.catalog.schema
        )
        form = draft.form()
        outputs = config.catalog.output_columns(form)
        periods = config.catalog.period_columns(form)
        return {
            "yaml": text,
            "form": form,
            "outputs": outputs,
            "periods": periods,
            "problems": problems,
        }

    async def index(request: Request) -> Response:
        return templates.TemplateResponse(
            request,
            "index.html",
            {
                "tables": config.catalog.tables(),
                "providers": sorted(config.sources.providers),
                "views_dir": str(config.views_dir),
                "read_only": config.read_only,
            },
        )

    async def login(request: Request) -> Response:
        if request.method == "POST":
            form = await request.form()
            given = str(form.get("token") or "")
            if config.token and hmac.compare_digest(given.encode(), config.token.encode()):
                response = RedirectResponse("/", status_code=303)
                response.set_cookie(TOKEN_COOKIE, given, httponly=True, samesite="strict")
                return response
            return templates.TemplateResponse(
                request, "login.html", {"wrong": True}, status_code=401
            )
        return templates.TemplateResponse(request, "login.html", {"wrong": False})

    async def tables(request: Request) -> Response:
        return JSONResponse(config.catalog.tables())

    async def columns(request: Request) -> Response:
        table = request.path_params["table"]
        try:
            cols = config.catalog.columns(table)
        except LookupError as e:
            return JSONResponse({"error": str(e)}, status_code=404)
        days = await run_in_threadpool(raw_days, config.lake_root, config.sources, table)
        return JSONResponse(
            {"columns": cols, "days": days, "shards": config.sources.shards_for(table)}
        )

    async def json_keys(request: Request) -> Response:
        table, column = request.path_params["table"], request.path_params["column"]
        shard = request.query_params.get("shard")
        try:
            answer = await run_in_threadpool(
                config.catalog.json_keys, table, column, shard, config.lake_root
            )
        except LookupError as e:
            return JSONResponse({"error": str(e)}, status_code=404)
        except SampleUnavailable as e:  # neither the shard nor the lake: say so on the page
            return JSONResponse({"error": str(e)}, status_code=502)
        return JSONResponse(answer)

    async def lookup_keys(request: Request) -> Response:
        body = await _json(request)
        try:
            draft = Draft.from_text(str(body.get("yaml") or ""))
            pairs = config.catalog.lookup_keys(str(body.get("table")), _view_columns(config, draft))
            related = config.catalog.columns(str(body.get("table")))
        except (DraftError, LookupError) as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        return JSONResponse({"pairs": pairs, "columns": related})

    async def views(request: Request) -> Response:
        folder = config.views_dir
        names = sorted(p.parent.name for p in folder.glob("*/defs.yaml")) if folder.is_dir() else []
        return JSONResponse({"views": names})

    async def view(request: Request) -> Response:
        try:
            text = read_view(config.views_dir, request.path_params["name"])
            draft = Draft.from_text(text)
        except (PublishRefused, DraftError) as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        return JSONResponse(await run_in_threadpool(draft_answer, draft))

    async def draft(request: Request) -> Response:
        body = await _json(request)
        try:
            current = Draft.from_text(str(body.get("yaml") or ""))
            for op in body.get("ops") or []:
                current.apply(op)
        except DraftError as e:
            return JSONResponse({"error": str(e), "problems": [["", str(e)]]}, status_code=400)
        return JSONResponse(await run_in_threadpool(draft_answer, current))

    async def preview(request: Request) -> Response:
        body = await _json(request)
        text = str(body.get("yaml") or "")
        try:
            name = Draft.from_text(text).attributes.get("name")
            day = dt.date.fromisoformat(str(body.get("day")))
        except (DraftError, ValueError) as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        spec, problems = check_draft(text, name, config.sources, config.catalog.schema)
        if spec is None:
            return JSONResponse(
                {"error": "fix the problems first", "problems": problems}, status_code=400
            )
        shards = [str(s) for s in body.get("shards") or []]
        answer = await run_in_threadpool(
            preview_day, spec, config.sources, config.lake_root, day, shards
        )
        return JSONResponse(answer, status_code=400 if "error" in answer else 200)

    async def diff(request: Request) -> Response:
        body = await _json(request)
        return await run_in_threadpool(_publish, config, body, dry_run=True)

    async def publish(request: Request) -> Response:
        body = await _json(request)
        return await run_in_threadpool(_publish, config, body, dry_run=False)

    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=list(config.allowed_hosts))]
    if config.token:
        middleware.append(Middleware(_TokenGate, token=config.token))
    return Starlette(
        routes=[
            Route("/", index),
            Route("/login", login, methods=["GET", "POST"]),
            Route("/api/tables", tables),
            Route("/api/tables/{table}", columns),
            Route("/api/tables/{table}/json/{column}", json_keys),
            Route("/api/lookup-keys", lookup_keys, methods=["POST"]),
            Route("/api/views", views),
            Route("/api/views/{name:path}", view),
            Route("/api/draft", draft, methods=["POST"]),
            Route("/api/preview", preview, methods=["POST"]),
            Route("/api/diff", diff, methods=["POST"]),
            Route("/api/publish", publish, methods=["POST"]),
            Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
        ],
        middleware=middleware,
    )


async def _json(request: Request) -> dict[str, Any]:
    """The body of a script's call. Only `application/json`: a form on another site cannot
    send that type without the browser asking first."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return {}
    body = await request.json()
    return body if isinstance(body, dict) else {}


def _view_columns(config: StudioConfig, draft: Draft) -> dict[str, str]:
    """The columns a lookup can read, with a type each: the source table's (MySQL types), the
    declared ones (their view types) and the earlier lookups' (their tables' MySQL types)."""
    attributes = draft.form()
    schema = config.catalog.schema.tables
    out = dict(schema.get(str(attributes.get("source")), {}))
    for name, column in (attributes.get("columns") or {}).items():
        if isinstance(column, dict) and column.get("type") and not column.get("expr"):
            out[name] = str(column["type"])
    for lookup in attributes.get("lookups") or []:
        related = schema.get(str(lookup.get("table")), {})
        for column, output in (lookup.get("columns") or {}).items():
            name = output if isinstance(output, str) else (output or {}).get("as") or column
            if column in related:
                out[name] = related[column]
    return out


def _publish(config: StudioConfig, body: dict[str, Any], *, dry_run: bool) -> Response:
    """The diff against the file on disk; without `dry_run`, the write and the reload. A draft
    the platform would refuse to load is not written."""
    text = str(body.get("yaml") or "")
    try:
        name = Draft.from_text(text).attributes.get("name")
        path = view_file(config.views_dir, name)
    except (DraftError, PublishRefused) as e:
        return JSONResponse({"error": str(e)}, status_code=400)
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    answer: dict[str, Any] = {"path": str(path), "diff": unified_diff(old, text, str(name))}
    if dry_run:
        return JSONResponse(answer)
    if config.read_only:
        return JSONResponse({**answer, "error": config.read_only}, status_code=403)
    spec, problems = check_draft(text, name, config.sources, config.catalog.schema)
    if spec is None:
        return JSONResponse(
            {**answer, "error": "not published: fix the problems first", "problems": problems},
            status_code=400,
        )
    done = publish_view(config.views_dir, str(name), text, dagster_url=config.dagster_url)
    return JSONResponse({"path": str(done.path), "diff": done.diff, "reload": done.reload})
