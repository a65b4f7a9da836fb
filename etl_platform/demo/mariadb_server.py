"""Start (or reuse) a private `mariadbd` on a free loopback port with the binlog on.

One helper serves the demo (`.local/mariadb`), benchmarks and binlog tests (a temp folder), so
none of them writes into a server the user already runs.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pymysql

from etl_platform.extract.connection import MySqlEndpoint

INSTALL_HINT = (
    "no MariaDB server binaries found (mariadbd, mariadb-install-db). Install them with "
    "`apt-get install mariadb-server` (Debian/Ubuntu), or point ETL_PLATFORM_DEMO_MYSQL_URL "
    "at an existing server"
)


class ServerError(RuntimeError):
    pass


@dataclasses.dataclass(frozen=True)
class PrivateServer:
    datadir: Path
    port: int

    @property
    def endpoint(self) -> MySqlEndpoint:
        return MySqlEndpoint(host="127.0.0.1", port=self.port, user="root")

    @property
    def pid_file(self) -> Path:
        return self.datadir / "mariadbd.pid"


def _binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name) or next(
            (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if p.exists()),
            None,
        )
        if found:
            return found
    raise ServerError(INSTALL_HINT)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _alive(pid_file: Path) -> bool:
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return False
    return True


def _reachable(endpoint: MySqlEndpoint) -> bool:
    try:
        endpoint.connect(connect_timeout=1).close()
    except pymysql.err.Error:
        return False
    return True


def start_server(
    datadir: Path,
    *,
    binlog: bool = True,
    timeout: float = 60,
    port: int | None = None,
    server_id: int | None = None,
) -> PrivateServer:
    """Start a server in `datadir` (initialising it the first time), or reuse a running one.
    `port`: this one rather than a free one (a restart that clients reconnect to).
    `server_id`: the server's own id (default 1); a replica needs one its primary lacks."""
    datadir = datadir.resolve()
    port_file = datadir / "port"
    if port_file.exists() and _alive(datadir / "data" / "mariadbd.pid"):
        server = PrivateServer(datadir / "data", int(port_file.read_text()))
        if _reachable(server.endpoint):
            return server
    mariadbd = _binary("mariadbd", "mysqld")
    data = datadir / "data"
    if not (data / "mysql").is_dir():
        install = _binary("mariadb-install-db", "mysql_install_db")
        data.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            [
                install,
                "--no-defaults",
                f"--datadir={data}",
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise ServerError(f"mariadb-install-db failed in {data}:\n{proc.stderr[-2000:]}")
    port = port or free_port()
    args = [
        mariadbd,
        "--no-defaults",
        f"--datadir={data}",
        f"--port={port}",
        "--bind-address=127.0.0.1",
        f"--socket={datadir / 'mariadbd.sock'}",
        f"--pid-file={data / 'mariadbd.pid'}",
        "--user=root",
        "--skip-name-resolve",
        "--innodb-buffer-pool-size=512M",
        "--innodb-flush-log-at-trx-commit=2",
        "--max-allowed-packet=256M",
        "--local-infile=1",
        "--character-set-server=utf8mb4",
        f"--log-error={datadir / 'mariadbd.err'}",
    ]
    if binlog or server_id is not None:
        args.append(f"--server-id={server_id or 1}")
    if binlog:
        args += [
            f"--log-bin={data / 'binlog'}",
            "--binlog-format=ROW",
            "--binlog-row-metadata=FULL",
            "--binlog-row-image=FULL",
        ]
    subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    server = PrivateServer(data, port)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _reachable(server.endpoint):
            port_file.write_text(str(port))
            return server
        time.sleep(0.2)
    log = datadir / "mariadbd.err"
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise ServerError(f"mariadbd did not accept connections on port {port} in {timeout}s:\n{tail}")


def stop_server(datadir: Path, *, timeout: float = 30) -> None:
    """Stop the server started in `datadir`, if it runs."""
    pid_file = datadir.resolve() / "data" / "mariadbd.pid"
    if not _alive(pid_file):
        return
    pid = int(pid_file.read_text().strip())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _reaped(pid):
            return
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
    _reaped(pid)


def _reaped(pid: int) -> bool:
    """Whether the server is gone: reaped when this process started it (else it lingers as
    a zombie that `kill(pid, 0)` still finds), gone from the process table otherwise."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == pid
    except ChildProcessError:  # not our child
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
