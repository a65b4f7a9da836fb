import os
import platform
import subprocess
import sys

import pytest

from etl_platform.runtime import arrow_pool, glibc_malloc, jemalloc, memory


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _released_bytes() -> int:
    """How much smaller the process is after `release_free_memory`."""
    before = _rss_bytes()
    memory.release_free_memory()
    return before - _rss_bytes()


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="malloc_trim is glibc's",
)
def test_free_pages_between_live_blocks_go_back_to_the_system() -> None:
    # 1 KB objects come from glibc's malloc (over pymalloc's 512 bytes). Keeping one in a
    # hundred alive pins the heap's top, so glibc cannot shrink it by itself.
    blocks = [bytes(1024) + i.to_bytes(4, "little") for i in range(200_000)]
    kept = blocks[::100]
    del blocks
    assert len(kept) == 2_000
    assert _released_bytes() > 100 * 2**20


_ARROW_FREES = """
import sys, time
from etl_platform.runtime import configure_process
configure_process()
import pyarrow as pa
from etl_platform.runtime import memory
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096
arrays = [pa.array(range(i, i + 20_000)) for i in range(2_000)]  # ~320 MB in 160 KB blocks
kept = arrays[::50]
del arrays
before = rss()
memory.release_free_memory()
at_once = before - rss()
time.sleep(float(sys.argv[1]))
print(pa.default_memory_pool().backend_name, at_once, before - rss())
"""


def _arrow_frees(pool: str | None, wait: float) -> tuple[str, int, int]:
    """(Arrow's pool, bytes given back by `release_free_memory`, and `wait` s later)."""
    env = {k: v for k, v in os.environ.items() if k != arrow_pool.ENV}
    if pool:
        env[arrow_pool.ENV] = pool
    done = subprocess.run(
        [sys.executable, "-c", _ARROW_FREES, str(wait)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    backend, at_once, later = done.stdout.split()
    return backend, int(at_once), int(later)


def test_arrows_free_pages_go_back_at_once_from_mimalloc() -> None:
    # pyarrow's wheels' own pool keeps what Arrow freed; glibc's trim does not reach it, the
    # pool's `release_unused` in `release_free_memory` does.
    backend, at_once, _ = _arrow_frees("mimalloc", 0)
    assert backend == "mimalloc"
    assert at_once > 100 * 2**20


@pytest.mark.skipif(platform.system() != "Linux", reason="pyarrow's Linux wheels carry jemalloc")
def test_arrows_free_pages_leave_within_jemallocs_decay() -> None:
    # Arrow's jemalloc (`arrow_pool`) purges on its background thread after its 1 s decay;
    # its `release_unused` gave back only a few MiB at once on the bench's VM.
    backend, _, later = _arrow_frees(None, 4)
    assert backend == "jemalloc"
    assert later > 100 * 2**20


def test_release_is_a_no_op_without_malloc_trim(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_malloc_trim", lambda: None)
    memory.release_free_memory()


@pytest.mark.skipif(platform.system() != "Linux", reason="polars' Linux wheels carry jemalloc")
def test_polars_allocator_returns_pages_without_the_lazy_stage() -> None:
    # jemalloc prints the options it runs with at exit (stats_print): the proof that the
    # setting reached polars' allocator, i.e. that `configure_process` set it first.
    script = (
        "import os\n"
        "from etl_platform.runtime import configure_process\n"
        "configure_process()\n"
        "os.environ['_RJEM_MALLOC_CONF'] += ',stats_print:true,stats_print_opts:mdablxe'\n"
        "import polars as pl\n"
        "pl.DataFrame({'a': [1, 2]}).sum()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != jemalloc.ENV}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert "opt.muzzy_decay_ms: 0 " in done.stderr


def test_an_operators_allocator_setting_is_kept() -> None:
    script = (
        "import os; from etl_platform.runtime import configure_process; configure_process(); "
        "print(os.environ['_RJEM_MALLOC_CONF'])"
    )
    env = {**os.environ, jemalloc.ENV: "dirty_decay_ms:2000"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "dirty_decay_ms:2000"


def _arrow_backend(env: dict[str, str]) -> str:
    script = (
        "from etl_platform.runtime import configure_process; configure_process(); "
        "import pyarrow as pa; print(pa.default_memory_pool().backend_name)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert "Unsupported backend" not in done.stderr
    return done.stdout.strip()


@pytest.mark.skipif(platform.system() != "Linux", reason="pyarrow's Linux wheels carry jemalloc")
def test_arrow_allocates_with_jemalloc() -> None:
    env = {k: v for k, v in os.environ.items() if k != arrow_pool.ENV}
    assert _arrow_backend(env) == "jemalloc"


def test_an_operators_arrow_pool_is_kept() -> None:
    assert _arrow_backend({**os.environ, arrow_pool.ENV: "system"}) == "system"


_MMAPPED_AFTER_A_FREE = """
import ctypes, sys
if sys.argv[1] == "platform":
    from etl_platform.runtime import configure_process
    configure_process()
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]
libc.mallinfo2.restype = Info
libc.free(libc.malloc(4 << 20))  # a block glibc maps, then frees: the threshold would move
before = libc.mallinfo2().hblks  # blocks in mappings of their own (the interpreter's too)
block = libc.malloc(2 << 20)
print(libc.mallinfo2().hblks - before)  # 1 if this one got its own mapping
libc.free(block)
"""


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="mallopt's mmap threshold is glibc's",
)
def test_large_blocks_keep_their_own_mapping_after_a_free() -> None:
    """Once a 4 MiB block is freed, glibc serves a 2 MiB one from its heap (where freed memory
    stays resident); with the platform loaded, it still gets a mapping of its own."""
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_MMAP_THRESHOLD_"}

    def mapped_blocks(mode: str) -> int:
        out = subprocess.run(
            [sys.executable, "-c", _MMAPPED_AFTER_A_FREE, mode],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return int(out.stdout.strip())

    assert mapped_blocks("plain") == 0  # glibc's default: the threshold moved to 4 MiB
    assert mapped_blocks("platform") == 1


def test_an_operators_threshold_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "1048576")
    assert glibc_malloc.fix_mmap_threshold() is False


def test_the_threshold_is_a_no_op_without_mallopt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.setattr(glibc_malloc, "libc_function", lambda name: None)
    assert glibc_malloc.fix_mmap_threshold() is False


_IMPORT_EVERYTHING = """
import os, pkgutil, importlib
import dagster, duckdb, polars, pyarrow  # they set variables of their own when imported
import etl_platform
from etl_platform.runtime import arrow_pool, glibc_malloc, jemalloc
called = []
for module, name in ((jemalloc, "configure"), (arrow_pool, "configure"),
                     (glibc_malloc, "fix_mmap_threshold")):
    setattr(module, name, lambda name=name: called.append(name))
before = dict(os.environ)
for info in pkgutil.walk_packages(etl_platform.__path__, "etl_platform."):
    if info.name != "etl_platform.cli.__main__":
        importlib.import_module(info.name)
changed = sorted(k for k in set(os.environ) | set(before) if os.environ.get(k) != before.get(k))
print(changed, called)
"""


def test_importing_the_platform_changes_nothing_in_the_process() -> None:
    """Settings are the entry points' to apply (`configure_process`), not an import's."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in (jemalloc.ENV, arrow_pool.ENV, glibc_malloc.ENV)
    }
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_EVERYTHING],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "[] []"
    assert _arrow_backend_plain(env) != "jemalloc"


def _arrow_backend_plain(env: dict[str, str]) -> str:
    script = (
        "import etl_platform.load.lake, pyarrow as pa; print(pa.default_memory_pool().backend_name)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()
