"""No secret leaks: URLs with reserved characters in the password parse, a malformed one is
refused without quoting it, and no configured secret reaches run storage, logs, the console
or the lake, even when a driver's error quotes it."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import logging
import os
import re
import secrets
import sqlite3
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import dagster as dg
import pymysql
import pytest
import yaml

from etl_platform import redaction
from etl_platform.definitions import build_definitions
from etl_platform.env import Environment
from etl_platform.extract import backends
from etl_platform.extract.connection import MySqlEndpoint, MySqlUrlError, endpoint_for
from etl_platform.load.staging import staging_root
from etl_platform.redaction import (
    channel_secrets,
    install_log_redaction,
    redact,
    redact_exception,
    redact_metadata,
    redacted_step,
    secret_values,
    secrets_redacted,
)
from etl_platform.runner import run_range
from etl_platform.specs.loader import load_sources
from etl_platform_tests.conftest import run_sql

RESERVED = {
    "slash": "/",
    "hash": "#",
    "question": "?",
    "at": "@",
    "colon": ":",
    "percent": "%",
    "lbracket": "[",
    "rbracket": "]",
    "space": " ",
}


def _token() -> str:
    """Random text to grep for; it starts with a letter that is no hex digit, so a `%` before
    it is a literal `%`."""
    return secrets.choice("ghjkmnpqrstvwxyz") + secrets.token_hex(6)


# URL parsing


@pytest.mark.parametrize("char", RESERVED.values(), ids=RESERVED.keys())
def test_a_password_may_hold_each_reserved_character_unescaped(char: str) -> None:
    password = f"Kq{char}Wz{char}Ty"
    endpoint = MySqlEndpoint.from_url(f"mysql://etl_reader:{password}@db1.internal:3307/shop")
    assert (endpoint.host, endpoint.port, endpoint.user, endpoint.password, endpoint.database) == (
        "db1.internal",
        3307,
        "etl_reader",
        password,
        "shop",
    )
    escaped = MySqlEndpoint.from_url(
        f"mysql://etl_reader:{quote(password, safe='')}@db1.internal:3307/shop"
    )
    assert escaped == endpoint
    assert MySqlEndpoint.from_url(endpoint.url()) == endpoint


def test_a_password_that_looks_like_a_url_is_read_whole() -> None:
    endpoint = MySqlEndpoint.from_url("mysql://etl:p@ss:w/rd#1?x@127.0.0.1/shop?ssl=1#frag")
    assert (endpoint.user, endpoint.password, endpoint.host, endpoint.port) == (
        "etl",
        "p@ss:w/rd#1?x",
        "127.0.0.1",
        3306,
    )
    assert endpoint.database == "shop"
    assert MySqlEndpoint.from_url(endpoint.url()) == endpoint


def test_percent_escapes_are_decoded_and_ipv6_hosts_read() -> None:
    endpoint = MySqlEndpoint.from_url("mysql://r%40d:a%2Fb%25c%41@[::1]:3310/")
    assert (endpoint.user, endpoint.password, endpoint.host, endpoint.port) == (
        "r@d",
        "a/b%cA",
        "::1",
        3310,
    )
    assert endpoint.database is None
    assert MySqlEndpoint.from_url(endpoint.url()) == endpoint


USER, PASSWORD = "Hq_Wfx", "Zk/Vx#Jw?Gb"
MALFORMED = {
    "no host, no @ (urlsplit read a port from the password)": f"mysql://{USER}:{PASSWORD}",
    "nothing after the @": f"mysql://{USER}:{PASSWORD}@",
    "a port that is no number": f"mysql://{USER}:{PASSWORD}@db1.internal:33o6/shop",
    "a port out of range": f"mysql://{USER}:{PASSWORD}@db1.internal:99999/shop",
    "another scheme": f"postgres://{USER}:{PASSWORD}@db1.internal/shop",
    "no scheme": f"{USER}:{PASSWORD}@db1.internal/shop",
    "a database path of two names": f"mysql://{USER}:{PASSWORD}@db1.internal/shop/x",
    "a space in the host": f"mysql://{USER}:{PASSWORD}@db1 internal/shop",
}


def _fragments(text: str, size: int = 2) -> set[str]:
    return {text[i : i + size] for i in range(len(text) - size + 1)}


@pytest.mark.parametrize("url", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_url_is_refused_without_any_part_of_its_user_or_password(url: str) -> None:
    with pytest.raises(MySqlUrlError) as refused:
        MySqlEndpoint.from_url(url)
    message = str(refused.value)
    leaked = {f for f in _fragments(USER) | _fragments(PASSWORD) if f in message}
    assert not leaked, message
    if "@db1.internal" in url and "postgres" not in url and not url.startswith(USER):
        assert "db1.internal" in message  # the host is known: it says which server


def test_an_endpoint_error_names_the_shard_the_variable_and_the_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sources.yaml").write_text(
        "start: 2024-01-01\nshards: {s0: {url_env: S0_URL}}\ntables: {t: {primary_key: [id]}}\n"
    )
    spec = load_sources(tmp_path / "sources.yaml").shards["s0"]
    monkeypatch.setenv("S0_URL", f"mysql://{USER}:{PASSWORD}@db1.internal:33o6/shop")
    with pytest.raises(MySqlUrlError, match=r"^shard s0: S0_URL: MySQL URL: the port of host "):
        endpoint_for("s0", spec)


# Redaction, unit by unit


@pytest.fixture
def configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A sources.yaml with a url_env and a password_env shard, their secrets in the
    environment, and a Redshift DSN."""
    values = {
        "url": f"{_token()}/#?@:{_token()}",
        "password_env": f"{_token()}[ ]{_token()}",
        "dsn_url": f"{_token()}:@{_token()}",
        "dsn_kv": f"{_token()} '{_token()}",
    }
    (tmp_path / "sources.yaml").write_text(
        "start: 2024-01-01\nshards:\n"
        "  s0: {url_env: T_URL}\n"
        "  s1: {host: db1.internal, user: r, password_env: T_PASSWORD}\n"
        "tables: {t: {primary_key: [id]}}\n"
    )
    monkeypatch.setenv("ETL_PLATFORM_SOURCES", str(tmp_path / "sources.yaml"))
    monkeypatch.setenv("T_URL", f"mysql://reader:{values['url']}@db0.internal/shop")
    monkeypatch.setenv("T_PASSWORD", values["password_env"])
    monkeypatch.setenv(
        "ETL_PLATFORM_REDSHIFT_DSN", f"postgresql://etl:{quote(values['dsn_url'])}@rs.internal/dw"
    )
    return values


def test_every_configured_secret_is_collected(
    configured: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    found = secret_values()
    assert {configured["url"], configured["password_env"], configured["dsn_url"]} <= found
    escaped = configured["dsn_kv"].replace("'", "\\'")
    monkeypatch.setenv("ETL_PLATFORM_REDSHIFT_DSN", f"host=rs user=etl password='{escaped}'")
    assert configured["dsn_kv"] in secret_values()
    monkeypatch.setenv("T_PASSWORD", "abc")  # too short to mask without garbling messages
    assert "abc" not in secret_values()


def test_the_views_notification_channel_secrets_are_masked(
    configured: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A view's webhook URL (its token in the path), header values and SMTP password are
    masked too; a host or user variable is not a secret; an edited view file is read again."""
    views = tmp_path / "views"
    (views / "a").mkdir(parents=True)
    (views / "b").mkdir()
    rule = {"name": "r", "when": "true", "template": "x"}
    webhook = {"type": "webhook", "url_env": "T_HOOK", "headers_env": {"X-Token": "T_TOKEN"}}
    smtp = {"type": "smtp", "host_env": "T_HOST", "password_env": "T_SMTP", "from": "a@b.c"}
    for name, channel in (("a", webhook), ("b", smtp)):
        document = {"attributes": {"notifications": [{**rule, "channel": channel}]}}
        (views / name / "defs.yaml").write_text(yaml.safe_dump(document))
    (views / "c").mkdir()
    (views / "c" / "defs.yaml").write_text("attributes: [not: a, view")  # skipped, not fatal
    hook, token, password = (
        f"https://hooks.example.com/services/{_token()}",
        _token(),
        _token(),
    )
    monkeypatch.setenv("ETL_PLATFORM_VIEWS_DIR", str(views))
    monkeypatch.setenv("T_HOOK", hook)
    monkeypatch.setenv("T_TOKEN", token)
    monkeypatch.setenv("T_SMTP", password)
    monkeypatch.setenv("T_HOST", "smtp.example.com")
    monkeypatch.setattr(channel_secrets, "RECHECK_SECONDS", 0.0)
    monkeypatch.setenv("T_TOKEN", f"Bearer {token}")
    path = hook.removeprefix("https://hooks.example.com")
    masked = redact(
        f"posting to {hook} with Bearer {token}, {token} alone, then {path} (a library's "
        f"message), then smtp.example.com as {password}"
    )
    assert token not in masked and password not in masked
    assert path.rpartition("/")[2] not in masked  # the path's token, however it is quoted
    assert "smtp.example.com" in masked
    assert configured["url"] in secret_values()  # the sources' secrets still are
    (views / "a" / "defs.yaml").write_text("attributes: {}\n")
    os.utime(views / "a" / "defs.yaml", ns=(1, 1))  # another stamp, whatever the clock
    assert token not in secret_values()


def test_every_spelling_of_a_secret_is_masked(configured: dict[str, str]) -> None:
    secret = configured["url"]
    text = " | ".join(
        [secret, quote(secret, safe=""), quote(secret), repr(secret), json.dumps(secret)]
    )
    masked = redact(text)
    assert secret not in masked and quote(secret, safe="") not in masked
    assert masked.count(redaction.MASK) == 5
    assert redact("nothing secret here") == "nothing secret here"


def test_a_malformed_urls_password_is_masked_too(
    configured: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    password = f"{_token()}/{_token()}"
    monkeypatch.setenv("T_URL", f"mysql://reader:{password}")
    assert password not in redact(f"it was {password}, then {password.split('/')[0]}/")


class _OddError(Exception):
    """An error whose message is not made of its arguments."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def __str__(self) -> str:
        return f"driver failed with {self.secret}"


def _full_text(error: BaseException) -> str:
    return "".join(traceback.format_exception(error))


def test_an_error_leaves_a_block_with_its_secrets_masked_in_it_and_its_causes(
    configured: dict[str, str],
) -> None:
    secret = configured["password_env"]
    with pytest.raises(Exception) as caught, secrets_redacted():
        try:
            raise OSError(13, f"denied {secret}", f"/tmp/{secret}")
        except OSError as e:
            raise ValueError(f"shard s1: {secret}") from e
    text = _full_text(caught.value)
    assert secret not in text and "shard s1: ***" in text and isinstance(caught.value, ValueError)

    with pytest.raises(redaction.RedactedError) as replaced, secrets_redacted():
        raise _OddError(secret)
    assert secret not in _full_text(replaced.value)
    assert "_OddError: driver failed with ***" in str(replaced.value)

    failure = dg.Failure(description=f"no {secret}", metadata={"url": f"mysql://r:{secret}@h"})
    assert redact_exception(failure) is failure
    assert secret not in failure.description and secret not in str(failure.metadata)


def test_metadata_values_are_masked_whatever_their_kind(configured: dict[str, str]) -> None:
    secret = configured["url"]
    masked = redact_metadata(
        {
            "text": f"at {secret}",
            "json": dg.MetadataValue.json({"nested": [f"x{secret}"]}),
            "md": dg.MetadataValue.md(f"`{secret}`"),
            "rows": 5,
        }
    )
    assert secret not in str(masked)
    assert masked["rows"] == 5 and isinstance(masked["json"], dg.JsonMetadataValue)


def test_every_log_record_is_masked(configured: dict[str, str]) -> None:
    install_log_redaction()
    secret = configured["url"]
    out = io.StringIO()
    logger = logging.getLogger("etl_platform_tests.secrets")
    handler = logging.StreamHandler(out)
    logger.addHandler(handler)
    try:
        logger.warning("connecting with %s", secret)
        try:
            raise RuntimeError(f"refused: {secret}")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    assert secret not in out.getvalue() and out.getvalue().count(redaction.MASK) == 2


def test_an_asset_bodys_metadata_and_error_are_stored_masked(
    configured: dict[str, str], tmp_path: Path
) -> None:
    secret = configured["password_env"]

    @dg.asset(check_specs=[dg.AssetCheckSpec("reachable", asset="with_metadata")])
    @redacted_step
    def with_metadata():  # unannotated: this module's annotations are strings
        return dg.MaterializeResult(
            metadata={"endpoint": f"r:{secret}@db1", "raw": dg.MetadataValue.json([secret])},
            check_results=[dg.AssetCheckResult(passed=True, metadata={"why": secret})],
        )

    @dg.asset
    @redacted_step
    def failing():
        yield dg.MaterializeResult(asset_key="failing", metadata={"at": secret})
        raise _OddError(secret)

    home = tmp_path / "home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        result = dg.materialize([with_metadata, failing], instance=instance, raise_on_error=False)
        stored = instance.get_latest_materialization_event(dg.AssetKey("with_metadata"))
    assert not result.success
    assert stored.asset_materialization.metadata["endpoint"].value == "r:***@db1"
    texts = [text for _, text in _texts_under(home)]
    assert texts and not [n for n in _spellings(secret) for t in texts if n in t]


# End to end: a real platform run against MariaDB


DAY = dt.date(2024, 3, 9)


def _password(char: str) -> str:
    return f"{_token()}{char}{_token()}{char}{_token()}"


@pytest.fixture
def mariadb_users(scratch_db: MySqlEndpoint, mysql_server: MySqlEndpoint) -> Iterator[dict]:
    """A database with a day of orders; one user per reserved character (its password holds
    it twice), one whose password holds them all, each allowed to read the database; all
    dropped afterwards."""
    run_sql(
        scratch_db,
        "CREATE TABLE orders (id BIGINT PRIMARY KEY, updated_at DATETIME(6) NOT NULL, "
        "payload TEXT, KEY idx_orders_updated_at (updated_at))",
        "INSERT INTO orders VALUES (1, %s, '{}'), (2, %s, NULL)",
        params=(f"{DAY} 08:00:00", f"{DAY} 23:59:59.999999"),
    )
    passwords = {name: _password(char) for name, char in RESERVED.items()}
    passwords["mix"] = f"{_token()}p@ss:w/rd#1?x [%]{_token()}"
    passwords["pwenv"] = _password("/#?@:%[] ")
    passwords["leak"] = _password("/#?")
    suffix = secrets.token_hex(3)  # another session's run of this test has its own users
    users = {name: f"etl_secret_{name}_{suffix}" for name in passwords}
    conn = mysql_server.connect()
    try:
        with conn.cursor() as cur:
            for name, user in users.items():
                cur.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (user, passwords[name]))
                cur.execute(f"GRANT SELECT ON `{scratch_db.database}`.* TO %s@'%%'", (user,))
        yield {"passwords": passwords, "users": users, "database": scratch_db.database}
    finally:
        with conn.cursor() as cur:
            for user in users.values():
                cur.execute("DROP USER IF EXISTS %s@'%%'", (user,))
        conn.close()


def _leaking_readers(monkeypatch: pytest.MonkeyPatch, user: str) -> None:
    """Every extract backend's reader, except that for `user` it fails as a careless driver
    would: its errors and logs quote the password."""
    for name, real in list(backends._REGISTRY.items()):

        def make(real: Callable = real) -> Callable:
            def reader(endpoint: MySqlEndpoint, *args: object, **kw: object) -> object:
                if endpoint.user != user:
                    return real()(endpoint, *args, **kw)
                logging.getLogger("etl_platform.extract").warning(
                    "retrying mysql://%s:%s@%s", endpoint.user, endpoint.password, endpoint.host
                )
                try:
                    raise _OddError(endpoint.password)
                except _OddError as e:
                    raise pymysql.err.OperationalError(
                        2013, f"Lost connection (password {endpoint.password!r})"
                    ) from e

            return reader

        monkeypatch.setitem(backends._REGISTRY, name, make)


def _spellings(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), quote(secret), json.dumps(secret)[1:-1]}


def _texts_under(folder: Path) -> Iterator[tuple[Path, str]]:
    """Every file's bytes as text, and each SQLite database's rows as SQL (a long value may
    be split across pages in the file itself)."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        yield path, path.read_bytes().decode("utf-8", errors="replace")
        if path.suffix == ".db":
            with contextlib.closing(sqlite3.connect(path)) as db:
                yield path, "\n".join(db.iterdump())


@pytest.mark.integration
def test_no_secret_reaches_run_storage_logs_console_or_lake(
    mariadb_users: dict,
    extract_backend: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    passwords, users, db = (mariadb_users[k] for k in ("passwords", "users", "database"))
    bad = {"malformed": _password("/"), "badport": _password("#"), "wrong": _password("/#?@:")}
    shards, env = [], {}
    for name, password in passwords.items():
        if name == "pwenv":
            shards.append(
                f"  s_{name}: {{host: 127.0.0.1, user: {users[name]}, "
                f"password_env: T_PW_{name.upper()}, database: {db}}}"
            )
            env[f"T_PW_{name.upper()}"] = password
            continue
        shards.append(f"  s_{name}: {{url_env: T_URL_{name.upper()}, database: {db}}}")
        env[f"T_URL_{name.upper()}"] = f"mysql://{users[name]}:{password}@127.0.0.1:3306/"
    for name in bad:
        shards.append(f"  s_{name}: {{url_env: T_URL_{name.upper()}, database: {db}}}")
    user = users["slash"]
    env["T_URL_MALFORMED"] = f"mysql://{user}:{bad['malformed']}"
    env["T_URL_BADPORT"] = f"mysql://{user}:{bad['badport']}@127.0.0.1:33o6/"
    env["T_URL_WRONG"] = f"mysql://{user}:{bad['wrong']}@127.0.0.1:3306/"
    (tmp_path / "sources.yaml").write_text(
        "start: 2024-01-01\n"
        "extract: {retry: {max_retries: 1, delay_seconds: 0}, connect_timeout_seconds: 2}\n"
        "shards:\n" + "\n".join(shards) + "\n"
        "tables: {orders: {primary_key: [id], json: [payload]}}\n"
    )
    lake, home = tmp_path / "lake", tmp_path / "dagster_home"
    monkeypatch.setenv("ETL_PLATFORM_SOURCES", str(tmp_path / "sources.yaml"))
    monkeypatch.setenv("ETL_PLATFORM_LAKE", str(lake))
    monkeypatch.setenv("ETL_PLATFORM_VIEWS_DIR", str(tmp_path / "no_views"))
    monkeypatch.setenv("ETL_PLATFORM_EXTRACT_BACKEND", extract_backend)  # each driver logs in
    monkeypatch.setenv("ETL_PLATFORM_REDSHIFT_DSN", f"postgresql://etl:{_password('@')}@rs/dw")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    _leaking_readers(monkeypatch, users["leak"])

    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        run = run_range(
            build_definitions(Environment.TEST), "extract_raw", DAY, DAY, instance=instance
        )
    console = capfd.readouterr()

    outcomes = {o.key.removeprefix("raw__").removesuffix("__orders"): o for o in run.outcomes}
    failed = {shard: o.error for shard, o in outcomes.items() if o.error}
    assert set(failed) == {"s_malformed", "s_badport", "s_wrong", "s_leak"}, failed
    assert "shard s_malformed: T_URL_MALFORMED: MySQL URL" in failed["s_malformed"]
    badport = "shard s_badport: T_URL_BADPORT: MySQL URL: the port of host 127.0.0.1 is not"
    assert badport in failed["s_badport"]
    assert "shard s_wrong (127.0.0.1:3306" in failed["s_wrong"]
    assert "shard s_leak (127.0.0.1:3306" in failed["s_leak"] and "***" in failed["s_leak"]
    for shard in outcomes.keys() - failed.keys():  # every reserved character logged in
        assert outcomes[shard].rows, shard
    assert run_sql(
        MySqlEndpoint.from_url(env["T_URL_MIX"], database=db), "SELECT COUNT(*) FROM orders"
    ) == [(2,)]

    everything = [*passwords.values(), *bad.values(), *secret_values()]
    tokens = {t for s in everything for t in re.findall(r"[g-z][0-9a-f]{12}", s)}
    needles = {n for s in everything for n in _spellings(s)} | tokens
    places = [
        ("stdout", console.out),
        ("stderr", console.err),
        *_texts_under(home),
        *_texts_under(lake),
        *_texts_under(staging_root(lake)),
    ]
    searched = {str(place) for place, _ in places}
    assert any(p.endswith(".db") for p in searched), searched  # run storage (SQLite)
    assert any("compute_logs" in p for p in searched), searched  # captured stdout/stderr
    leaks = [(str(place), n) for place, text in places for n in needles if n in text]
    assert not leaks, leaks[:5]
