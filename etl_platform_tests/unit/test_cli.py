from pathlib import Path

import pytest

from etl_platform.cli import main
from etl_platform.demo import mariadb_server
from etl_platform.env import DEFAULTS_DIR


def test_missing_server_binaries_name_the_package_to_install() -> None:
    with pytest.raises(mariadb_server.ServerError, match="apt-get install mariadb-server"):
        mariadb_server._binary("no-such-mariadbd")


def test_sources_validate_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["sources", "validate", str(DEFAULTS_DIR / "sources.yaml")]) == 0
    assert "12 shards, 4 tables" in capsys.readouterr().out
    bad = tmp_path / "sources.yaml"
    bad.write_text("start: 2024-01-01\nshards: {s0: {}}\ntables: {}\n")
    assert main(["sources", "validate", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}: shards.s0: give either url_env or host" in err
    assert f"{bad}: tables: Dictionary should have at least 1 item" in err
