"""Where siting keeps its caches, the hashes that key their entries, and their size bound.

The folder is `$SITING_CACHE_DIR`, else `$XDG_CACHE_HOME/siting`, else `~/.cache/siting`.
Entries are named by the hash of the input file's bytes, not by its path, so the same data
hits the cache from any path and a changed file never does. Entries that depend on what
siting computes also carry :func:`code_fingerprint` (siting's own files and the versions of
the libraries that shape the numbers), so another siting or library version misses.
:func:`evict` keeps the folder under `$SITING_CACHE_MAX_MB` (default 2048) by removing the
least recently used entries (a hit touches its entry). A run writes its entries on one
background thread (:func:`write_later`) while its later stages go on, and waits for them
at its end (:func:`wait_for_writes`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

CHUNK_BYTES = 1 << 20
DEFAULT_MAX_MB = 2048
# entries siting writes into the folder (prefixes), and the temporaries of writes under way
ENTRY_PREFIXES = ("streetgraph-", "layers-", "demand-", "results-")
TMP_PREFIX = "."
STALE_TMP_S = 3600.0  # a temporary this old belongs to a killed run
# the libraries whose versions change what is read, projected, computed or written
LIBRARIES = (
    "numpy",
    "pandas",
    "geopandas",
    "shapely",
    "pyproj",
    "pyogrio",
    "pyarrow",
    "pyrosm",
    "osmium",
    "scipy",
    "networkx",
    "rasterio",
    "matplotlib",
    "folium",
    "branca",
    "jinja2",
)

log = logging.getLogger(__name__)
RACY_S = 2.0  # a file changed this recently is hashed again on each call
_SHA_MEMO: dict[tuple[str, int, int, int, int], str] = {}
_FINGERPRINT: list[str] = []
# the cache-writer thread (made on first use) and the writes it has not finished
_WRITER: list[ThreadPoolExecutor] = []
_PENDING: list[Future] = []
_WRITER_LOCK = threading.Lock()


def cache_dir() -> Path:
    """Where entries live: $SITING_CACHE_DIR, else $XDG_CACHE_HOME/siting, ~/.cache/siting."""
    if os.environ.get("SITING_CACHE_DIR"):
        return Path(os.environ["SITING_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "siting"


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in chunks (extracts can be gigabytes).

    Remembered for the process while the file's size, inode, mtime and ctime (any write
    moves ctime, and no tool sets it back) stay the same, so the several caches of one run
    hash a country extract once. File times have a coarse tick, so a file changed less than
    `RACY_S` before it was hashed is not remembered: a second write in the same tick would
    leave its times as they were (git's "racy" files).
    """
    path = Path(path)
    started = time.time()
    st = path.stat()
    memo = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    if memo in _SHA_MEMO:
        return _SHA_MEMO[memo]
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            digest.update(chunk)
    if max(st.st_mtime, st.st_ctime) < started - RACY_S:
        _SHA_MEMO[memo] = digest.hexdigest()
    return digest.hexdigest()


def code_fingerprint() -> str:
    """SHA-256 of siting's own files (code and data), Python's and `LIBRARIES`' versions.

    A cache entry keyed by it misses after any change to siting (an edit, another release)
    or an upgrade of a library that shapes the numbers; computed once per process (a few
    milliseconds: siting is about 2 MB).
    """
    if _FINGERPRINT:
        return _FINGERPRINT[0]
    from importlib import metadata

    root = Path(__file__).resolve().parent  # the siting package
    version = getattr(sys.modules.get("siting"), "__version__", "")  # imported before us
    digest = hashlib.sha256(f"siting {version}\npython {sys.version}\n".encode())
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            digest.update(str(path.relative_to(root)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    digest.update(json.dumps(versions, sort_keys=True).encode())
    _FINGERPRINT.append(digest.hexdigest())
    return _FINGERPRINT[0]


def spec_key(spec: dict) -> str:
    """The cache key of a JSON-able spec: 40 hex digits of the SHA-256 of its sorted JSON."""
    text = json.dumps(spec, sort_keys=True, default=str, ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def touch(path: Path) -> None:
    """Mark an entry as just used (its mtime), so eviction removes others first."""
    try:
        os.utime(path)
    except OSError:
        pass


def max_bytes() -> int:
    """The folder's size bound: `$SITING_CACHE_MAX_MB` megabytes, else `DEFAULT_MAX_MB`."""
    text = os.environ.get("SITING_CACHE_MAX_MB", "")
    try:
        mb = float(text) if text.strip() else DEFAULT_MAX_MB
    except ValueError:
        log.warning("SITING_CACHE_MAX_MB=%r is not a number; using %d", text, DEFAULT_MAX_MB)
        mb = DEFAULT_MAX_MB
    return int(max(mb, 0.0) * 1e6)


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def evict(folder: Path | None = None, keep: Path | None = None, limit: int | None = None) -> int:
    """Remove the least recently used entries until the folder is under its bound.

    Only siting's entries are touched (names starting with `ENTRY_PREFIXES`, and the
    XML-as-PBF copies in `osm/`), never `keep` (the entry just written); temporaries left
    by killed runs (hidden names older than `STALE_TMP_S`) go too. Returns the bytes freed.
    """
    folder = folder or cache_dir()
    limit = max_bytes() if limit is None else limit
    now = time.time()
    entries = []
    for sub in (folder, folder / "osm"):
        try:
            names = list(sub.iterdir())
        except OSError:
            continue
        for path in names:
            try:
                st = path.stat()
                if path.name.startswith(TMP_PREFIX):
                    if now - st.st_mtime > STALE_TMP_S:
                        _remove(path)
                    continue
                if sub == folder and not path.name.startswith(ENTRY_PREFIXES):
                    continue
                if path.is_dir() and sub == folder / "osm":
                    continue
                entries.append((st.st_mtime, _size(path), path))
            except OSError:
                continue
    total = sum(size for _, size, _ in entries)
    freed = 0
    for _, size, path in sorted(entries, key=lambda e: e[0]):
        if total - freed <= limit:
            break
        if keep is not None and path == keep:
            continue
        if _remove(path):
            freed += size
            log.info("cache: evicted %s (%.1f MB)", path.name, size / 1e6)
    return freed


def write_file_entry(
    path: Path,
    write: Callable[[BinaryIO], None],
    what: str,
    errors: tuple[type[BaseException], ...] = (OSError,),
) -> Path | None:
    """Write a one-file cache entry atomically, then trim the folder to its bound.

    `write` fills a temporary file beside `path`, which then replaces `path`; any of
    `errors` (a full disk, a value the format cannot hold) is a warning naming `what`, and
    leaves nothing behind: a cache that cannot be written never stops a study.
    """
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
        tmp = None
    except errors as exc:
        log.warning(
            "could not write the %s %s (%s: %s); continuing", what, path, type(exc).__name__, exc
        )
        return None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    evict(path.parent, keep=path)
    return path


def _remove(path: Path) -> bool:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except OSError:
        return False
    return True


def write_later(save: Callable[..., object], *args: object) -> None:
    """Run the cache write `save(*args)` on the cache-writer thread; return at once.

    A write only copies what the run already holds, so the run goes on meanwhile (the
    encoding and the disk I/O largely run outside the GIL) and waits at its end
    (:func:`wait_for_writes`). The arguments must not change until then: frames are passed
    as shallow copies, which pandas copies on write. Writes run one at a time, in order.
    """
    with _WRITER_LOCK:
        if not _WRITER:
            _WRITER.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="siting-cache"))
        _PENDING.append(_WRITER[0].submit(save, *args))


def close_writer() -> None:
    """Finish the writes under way (failures logged), then end the cache-writer thread.

    For a process about to end without the interpreter's teardown (the console script): no
    write may be cut off. A later :func:`write_later` makes the thread again.
    """
    wait_for_writes(raising=False)
    with _WRITER_LOCK:
        pool = _WRITER.pop() if _WRITER else None
    if pool is not None:
        pool.shutdown(wait=True)


def wait_for_writes(raising: bool = True) -> None:
    """Wait until every write :func:`write_later` started is done; raise what one raised
    (a write's expected failures, a full disk, are already warnings: this is a bug), or
    with `raising=False` log it."""
    with _WRITER_LOCK:
        pending = list(_PENDING)
        _PENDING.clear()
    errors = [error for future in pending if (error := future.exception()) is not None]
    for error in errors:
        if raising:
            raise error
        log.error("a cache write failed: %s: %s", type(error).__name__, error)
