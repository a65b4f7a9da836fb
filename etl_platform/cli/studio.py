"""`etl-platform studio`: serve the view studio on the loopback (another address needs a token)."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from etl_platform import env
from etl_platform.cli.scaffold import PACKAGE_DIR

if TYPE_CHECKING:
    from etl_platform.studio.app import StudioConfig

#: Required when the studio listens on an address other machines can reach.
TOKEN_ENV = env.STUDIO_TOKEN_ENV


def add_studio_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("studio", help="a web page that builds view specs (docs/studio.md)")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help=f"address to listen on; not a loopback one needs {TOKEN_ENV}",
    )
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--views-dir", help="views folder (default: ETL_PLATFORM_VIEWS_DIR)")
    p.set_defaults(func=cmd_studio)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def studio_token(host: str) -> tuple[str | None, str | None]:
    """(token, refusal): on a loopback address none is needed; elsewhere the environment's."""
    if is_loopback(host):
        return None, None
    token = env.studio_token() or ""
    if len(token) < 16:
        return None, (
            f"listening on {host} lets other machines in: set {TOKEN_ENV} to a secret of at "
            "least 16 characters (`python -c 'import secrets; print(secrets.token_urlsafe())'`)"
        )
    return token, None


def build_config(host: str, views_dir: str | None) -> StudioConfig:
    """The studio's view of the platform: the same sources.yaml, snapshot, views and lake."""
    from etl_platform.specs.loader import load_source_schema, load_sources
    from etl_platform.specs.source_schema import schema_path_for
    from etl_platform.studio.app import StudioConfig
    from etl_platform.studio.catalog import Catalog

    sources = load_sources(env.sources_path())
    schema = load_source_schema(schema_path_for(env.sources_path()))
    folder = Path(views_dir) if views_dir else env.views_dir()
    read_only = None
    if not views_dir and folder.resolve().is_relative_to(PACKAGE_DIR):
        read_only = (
            f"publishing is off: {folder} is the installed package's own folder. Set "
            "ETL_PLATFORM_VIEWS_DIR to your project's views folder (or pass --views-dir)"
        )
    token, _ = studio_token(host)
    allowed = ("127.0.0.1", "localhost") if is_loopback(host) else ("*",)
    return StudioConfig(
        catalog=Catalog(sources, schema),
        views_dir=folder,
        lake_root=Path(env.lake_root(env.get_environment())),
        read_only=read_only,
        token=token,
        dagster_url=env.dagster_url(),
        allowed_hosts=allowed,
    )


def cmd_studio(args: argparse.Namespace) -> int:
    import uvicorn

    from etl_platform.studio.app import create_app

    _, refusal = studio_token(args.host)
    if refusal:
        print(f"etl-platform: {refusal}", file=sys.stderr)
        return 1
    config = build_config(args.host, args.views_dir)
    print(f"view studio on http://{args.host}:{args.port}/ (views: {config.views_dir})")
    if config.read_only:
        print(f"note: {config.read_only}")
    # No access log: a request line may carry what a user typed; the token never is in one.
    uvicorn.run(
        create_app(config), host=args.host, port=args.port, access_log=False, log_level="warning"
    )
    return 0
