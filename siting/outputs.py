"""Publish result files into an output folder as one set: a reader sees all old or all new.

A run writes its files into a *staging* folder and publishes them in one step:

* **exchange** (Linux, the default where it works): the staging folder, a hidden sibling
  of the output folder (``.siting-tmp-<out>-<hash>.<what>.<random>``), is made complete:
  the new files, a manifest, and every entry of the output folder that is not part of
  the earlier set of the same kind (your own files, `tiles/`, a report beside the
  results) moved across. Then ``renameat2(RENAME_EXCHANGE)`` swaps the two folders in one
  atomic step and the old set is deleted. Whatever instant the process dies, the output
  folder holds the whole earlier set or the whole new one, and files of the earlier set
  this run does not write (``map.html`` after ``--no-map``) leave with the old set. Your
  files are carried as hard links (never missing from the folder); folders are moved.
  The output folder is a new directory afterwards: a shell sitting in it must ``cd`` into
  it again to see the new files.
* **files** (fallback: no ``renameat2`` (not Linux, old kernel, a file system that refuses
  it), the output folder is a mount point or the current directory, or its parent is not
  writable): the files are renamed into the folder one by one, bracketed by a
  ``.siting-incomplete`` marker that is written first and removed last. A reader that finds
  the marker (:func:`check_complete`) knows the set is mixed; the next run repairs it. This
  keeps the output folder's own directory (and its parent untouched) at the cost of that
  window; a manifest-pointer layout (results under a versioned sub-folder) would avoid the
  window but change where the files are, which scripts and notebooks rely on.

Each set is listed in ``.siting-manifest.json`` (run id, time, size and SHA-256 of every
file, per kind: ``results``, ``report``); :func:`check_complete` checks a folder against it.
Staging folders are locked (``flock``) while their run lives, so the next run removes
only leftovers of killed runs (and moves back any of your files a killed run was carrying).
SIGINT/SIGTERM are held during the few milliseconds of the swap and acted on after it.

``SITING_TEST_PUBLISH_DELAY_S`` (tests only) sleeps that long between the steps of a
publication, so tests can kill a run inside it; ``SITING_PUBLISH_MODE`` (``auto``,
``exchange``, ``files``) forces a mode (tests, or a file system whose support is doubted).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import datetime as dt
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from siting.errors import OutputError
from siting.validate import fix_for_os_error

MANIFEST = ".siting-manifest.json"
INCOMPLETE = ".siting-incomplete"
TMP_PREFIX = ".siting-tmp-"
PROBE_PREFIX = ".siting-probe-"
DELAY_ENV = "SITING_TEST_PUBLISH_DELAY_S"
MODE_ENV = "SITING_PUBLISH_MODE"
LOCK_TIMEOUT_S = 300.0  # another run publishing into the same folder holds the lock this long
MANIFEST_FORMAT = 1
_CONTROL = {MANIFEST, INCOMPLETE}
_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100

# every name a study's result set may hold (`Results.to_files`; a set written before
# manifests existed is known by these)
RESULT_FILES = ("ranking.csv", "results.gpkg", "heat_density.tif", "map.html")

# output folders this process published into (the CLI words an interrupt after one)
published: list[Path] = []


# --------------------------------------------------------------------------- checks


def check_output_dir(out_dir: str | os.PathLike[str] | None) -> Path:
    """Check an output folder before any work: named, a folder (or creatable), writable.

    Nothing is created or changed (a probe file is made and removed). Returns the folder
    with ``~`` expanded. Raises OutputError naming the folder and the fix.
    """
    if out_dir is None or not str(out_dir).strip():
        raise OutputError(
            "the output folder is empty (--out ''); give a folder name, e.g. --out results."
        )
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise OutputError(
            f"output folder {out} is an existing file, not a folder; choose another --out folder."
        )
    target = out if out.is_dir() else _nearest_existing(out)
    if not target.is_dir():
        raise OutputError(
            f"output folder {out} cannot be created: {target} is a file, not a folder; choose "
            "another --out folder."
        )
    _probe_writable(target, out)
    return out


def _nearest_existing(path: Path) -> Path:
    for p in (path, *path.absolute().parents):
        if p.exists():
            return p
    return Path("/")


def _probe_writable(folder: Path, out: Path) -> None:
    try:
        fd, name = tempfile.mkstemp(prefix=PROBE_PREFIX, dir=folder)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        what = "written to" if folder == out else f"created (in {folder})"
        fix = {
            errno.EROFS: "the disk is read-only: choose another --out folder",
            errno.ENOSPC: "the disk is full: free space or choose another --out folder",
            errno.EDQUOT: "the disk quota is used up: free space or choose another --out folder",
        }.get(exc.errno, "choose another --out folder or fix its permissions (ls -ld)")
        raise OutputError(
            f"output folder {out} cannot be {what}: {exc.strerror or exc}; {fix}."
        ) from exc


def read_manifest(out_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The folder's ``.siting-manifest.json`` as a dict, or None (absent or unreadable)."""
    try:
        data = json.loads((Path(out_dir) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("sets"), dict) else None


def check_complete(out_dir: str | os.PathLike[str], deep: bool = False) -> dict[str, Any]:
    """Check a published folder before reading it; return its manifest.

    Raises OutputError when a publication was interrupted (``.siting-incomplete``), the
    folder has no manifest, or a listed file is missing or of another size (``deep``: or
    another SHA-256) than the manifest says.
    """
    out = Path(out_dir)
    if (out / INCOMPLETE).exists():
        raise OutputError(
            f"{out} holds a mix of two runs' results (a run was stopped while writing them); "
            "run the study again to replace them."
        )
    manifest = read_manifest(out)
    if manifest is None:
        raise OutputError(f"{out} has no readable {MANIFEST}; it was not written by siting.")
    for kind, entry in manifest["sets"].items():
        for name, info in entry.get("files", {}).items():
            path = out / name
            if not path.is_file() or path.stat().st_size != info.get("bytes"):
                raise OutputError(
                    f"{path} does not match the {kind} set listed in {MANIFEST}; run again."
                )
            if deep and _sha256(path) != info.get("sha256"):
                raise OutputError(f"{path} was changed after siting wrote it.")
    return manifest


# --------------------------------------------------------------------------- locks


def _flock(path: Path, blocking: bool) -> int | None:
    """An exclusive flock on the directory `path` (fd), or None when not blocking and held."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return None
        raise
    return fd


def _lock_out(out: Path) -> int:
    """Lock the output folder (its current directory: after a swap the name is a new one)."""
    deadline = time.monotonic() + LOCK_TIMEOUT_S
    while True:
        fd = _flock(out, blocking=False)
        if fd is not None:
            st, now = os.fstat(fd), os.stat(out)
            if (st.st_dev, st.st_ino) == (now.st_dev, now.st_ino):
                return fd
            os.close(fd)  # swapped while we waited: lock the new folder
            continue
        if time.monotonic() > deadline:
            raise OutputError(
                f"another siting run has been publishing into {out} for "
                f"{LOCK_TIMEOUT_S:.0f} s; wait for it to finish or choose another --out."
            )
        time.sleep(0.05)


def _unlock(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


# --------------------------------------------------------------------------- exchange


def _libc_renameat2():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_renameat2 = _libc_renameat2() if sys.platform.startswith("linux") else None


def exchange(a: Path, b: Path) -> None:
    """Swap two paths atomically (``renameat2(RENAME_EXCHANGE)``); OSError when unsupported."""
    if _renameat2 is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available", str(a))
    if _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(a), None, str(b))


def _exchange_works(folder: Path) -> bool:
    """Whether `folder`'s file system swaps two directories (tried on two empty ones)."""
    if _renameat2 is None:
        return False
    a = b = None
    try:
        a = Path(tempfile.mkdtemp(prefix=f"{PROBE_PREFIX}x-", dir=folder))
        b = Path(tempfile.mkdtemp(prefix=f"{PROBE_PREFIX}y-", dir=folder))
        exchange(a, b)
        return True
    except OSError:
        return False
    finally:
        for p in (a, b):
            if p is not None:
                with contextlib.suppress(OSError):
                    p.rmdir()


def _choose_mode(out: Path) -> str:
    forced = os.environ.get(MODE_ENV, "auto").strip().lower()
    if forced == "files":
        return "files"
    parent = out.parent
    try:
        mount_point = os.stat(out).st_dev != os.stat(parent).st_dev
        is_cwd = out.resolve() == Path.cwd().resolve()
    except OSError:
        return "files"
    if mount_point or is_cwd:
        return "files"
    if not _exchange_works(parent):
        return "files"
    return "exchange"


# --------------------------------------------------------------------------- leftovers


def _tag(out: Path) -> str:
    """Names a staging folder after its output folder (hash: unambiguous, short)."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", out.name)[:40] or "out"
    return f"{safe}-{hashlib.sha1(out.name.encode()).hexdigest()[:8]}"


def clean_leftovers(out_dir: str | os.PathLike[str]) -> list[Path]:
    """Remove staging folders of killed runs beside and inside `out_dir`; return them.

    A staging folder is a leftover when no process holds its lock (the lock dies with
    its process, SIGKILL included). Files of yours a killed run was carrying are moved
    back into the output folder first. Folders of runs in progress are left alone.
    """
    out = Path(out_dir).expanduser()
    removed: list[Path] = []
    if out.parent.is_dir():
        prefix = f"{TMP_PREFIX}{_tag(out)}."
        for path in _listdir(out.parent):
            if path.name.startswith(prefix) and path.is_dir() and not path.is_symlink():
                what = path.name[len(prefix) :].split(".")[0]
                if _remove_dead(path, out, what):
                    removed.append(path)
    if out.is_dir():
        for path in _listdir(out):
            if path.name.startswith(TMP_PREFIX) and path.is_dir() and not path.is_symlink():
                # staging of the files mode (or of siting before 0.2): never carries yours
                if _remove_dead(path, None, ""):
                    removed.append(path)
        _remove_old_probes(out)
    if out.parent.is_dir():
        _remove_old_probes(out.parent)
    return removed


def clean_tmp_dirs(folder: Path, prefix: str = TMP_PREFIX) -> list[Path]:
    """Remove unlocked (dead) staging folders named `prefix*` directly in `folder`."""
    return [
        p
        for p in _listdir(folder)
        if p.name.startswith(prefix) and p.is_dir() and _remove_dead(p, None, "")
    ]


def _listdir(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError:
        return []


def _remove_dead(path: Path, out: Path | None, what: str) -> bool:
    try:
        fd = _flock(path, blocking=False)
    except OSError:
        return False
    if fd is None:
        return False  # its run is alive
    try:
        if out is not None:
            _restore_carried(path, out, what)
        shutil.rmtree(path, ignore_errors=True)
    finally:
        _unlock(fd)
    return not path.exists()


def _restore_carried(staging: Path, out: Path, what: str) -> None:
    """Move entries a killed run was carrying (not its set's own files) back into `out`."""
    manifest = read_manifest(staging)
    if manifest is None:
        return  # killed before its manifest: nothing of yours was moved yet
    own = set(manifest["sets"].get(what, {}).get("files", {}))
    for entry in _listdir(staging):
        if entry.name in own or entry.name in _CONTROL:
            continue
        target = out / entry.name
        if target.exists() or target.is_symlink():
            with contextlib.suppress(OSError):
                if os.path.samestat(entry.lstat(), target.lstat()):
                    continue  # a hard link of a file that never left
            target = out / f"{entry.name}.recovered-{int(time.time())}"
        with contextlib.suppress(OSError):
            out.mkdir(parents=True, exist_ok=True)  # (the folder was removed meanwhile)
            os.rename(entry, target)


def _carry(src: Path, dst: Path) -> bool:
    """Put an entry of the old folder into the new one: a file by a hard link (it stays in
    the old folder too, so a reader or a killed run never finds it missing), a folder by
    a rename (restored by the next run if this one dies before the swap). True if moved.
    """
    if not src.is_dir() or src.is_symlink():
        try:
            os.link(src, dst, follow_symlinks=False)
            return False
        except OSError:
            pass  # no hard links here (FAT, some network file systems): move it
    os.rename(src, dst)
    return True


def _remove_old_probes(folder: Path, age_s: float = 60.0) -> None:
    now = time.time()
    for p in _listdir(folder):
        if p.name.startswith(PROBE_PREFIX):
            with contextlib.suppress(OSError):
                if now - p.lstat().st_mtime > age_s:
                    shutil.rmtree(p) if p.is_dir() else p.unlink()


# --------------------------------------------------------------------------- publish


class Staging:
    """A staging folder for one set of files; `publish` makes them the output folder's set.

    Attributes
    ----------
    out : the output folder.
    dir : where to write the files.
    run_id : this set's id (in the manifest).
    mode : "exchange" or "files" (see the module docstring).
    """

    def __init__(
        self,
        out: Path,
        tmp: Path,
        what: str,
        mode: str,
        legacy_names: tuple[str, ...],
        shown: Path | None = None,
    ) -> None:
        self.out = out
        self.shown = shown or out  # the path the caller gave (maybe a symlink to `out`)
        self.dir = tmp
        self.what = what
        self.mode = mode
        self.legacy_names = legacy_names
        self.run_id = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:12]}"
        self.published = False

    def publish(self, names: list[str]) -> dict[str, Path]:
        """Publish the staged files `names` as the output folder's set of this kind."""
        names = list(dict.fromkeys(names))
        umask = _umask()
        files = {}
        for name in names:
            path = self.dir / name
            os.chmod(path, 0o666 & ~umask)  # staged with mkstemp/mkdtemp: make it shareable
            _fsync_file(path)
            files[name] = {"bytes": path.stat().st_size, "sha256": _sha256(path)}
        with _signals_held():
            fd = _lock_out(self.out)
            try:
                if self.mode == "exchange":
                    self._exchange(files)
                else:
                    self._rename_files(files)
                self.published = True
                published.append(self.out)
            finally:
                _unlock(fd)
        return {name: self.shown / name for name in names}

    def _manifest(self, old: dict[str, Any] | None, files: dict[str, Any]) -> dict[str, Any]:
        sets = {k: v for k, v in (old or {}).get("sets", {}).items() if k != self.what}
        sets[self.what] = {
            "run_id": self.run_id,
            "written_utc": f"{dt.datetime.now(dt.UTC):%Y-%m-%dT%H:%M:%SZ}",
            "files": files,
        }
        return {"format": MANIFEST_FORMAT, "generator": "siting", "sets": sets}

    def _old_own(self, old: dict[str, Any] | None) -> set[str]:
        """The names of this kind's earlier set (listed, else the known names present)."""
        if old is not None and self.what in old["sets"]:
            own = set(old["sets"][self.what].get("files", {}))
        else:  # written before manifests: the names siting writes
            own = {n for n in self.legacy_names if (self.out / n).exists()}
        marker = _read_json(self.out / INCOMPLETE)
        if marker and marker.get("what") == self.what:  # a stopped files-mode publication
            own |= set(marker.get("names", []))
        return own

    def _exchange(self, files: dict[str, Any]) -> None:
        old = read_manifest(self.out)
        old_own = self._old_own(old)
        _write_json(self.dir / MANIFEST, self._manifest(old, files))
        _test_hook(f"publishing {self.what} to {self.out} (exchange)")
        moved: list[str] = []  # folders carried by rename: put back if the swap fails
        try:
            for entry in _listdir(self.out):
                name = entry.name
                if name in old_own or name in _CONTROL or name in files:
                    continue  # this kind's old set: leaves with the old folder
                _delay()
                if _carry(entry, self.dir / name):  # yours, other kinds, tiles/
                    moved.append(name)
            mode = os.stat(self.out)
            os.chmod(self.dir, stat.S_IMODE(mode.st_mode))
            if os.geteuid() == 0 and (mode.st_uid, mode.st_gid) != (0, 0):
                with contextlib.suppress(OSError):
                    os.chown(self.dir, mode.st_uid, mode.st_gid)
            _delay()
            exchange(self.dir, self.out)  # the one step: the folder is now the new set
        except BaseException:
            for name in moved:  # the old folder is still the output folder: restore it
                with contextlib.suppress(OSError):
                    os.rename(self.dir / name, self.out / name)
            raise
        _fsync_dir(self.out.parent)
        _delay()
        _test_hook("published")

    def _rename_files(self, files: dict[str, Any]) -> None:
        old = read_manifest(self.out)
        old_own = self._old_own(old)
        marker = {
            "run_id": self.run_id,
            "what": self.what,
            "names": sorted(old_own | set(files)),
        }
        # the old set's files, hard-linked aside: an error (not a kill) rolls back to them
        backup = self.dir / ".old"
        backup.mkdir()
        kept = []
        for name in sorted(marker["names"]):
            with contextlib.suppress(OSError):
                os.link(self.out / name, backup / name, follow_symlinks=False)
                kept.append(name)
        _write_json(self.out / INCOMPLETE, marker)  # first: readers know a set is mixed
        _test_hook(f"publishing {self.what} to {self.out} (files)")
        try:
            for name in sorted(old_own - set(files)):
                _delay()
                with contextlib.suppress(FileNotFoundError):
                    (self.out / name).unlink()
            for name in files:
                _delay()
                os.replace(self.dir / name, self.out / name)
            _write_json(self.dir / MANIFEST, self._manifest(old, files))
            os.replace(self.dir / MANIFEST, self.out / MANIFEST)
        except BaseException:
            for name in marker["names"]:
                with contextlib.suppress(OSError):
                    if name in kept:
                        os.replace(backup / name, self.out / name)
                    else:
                        (self.out / name).unlink()
            with contextlib.suppress(OSError):
                (self.out / INCOMPLETE).unlink()
            raise
        _fsync_dir(self.out)
        _delay()
        (self.out / INCOMPLETE).unlink()  # last: the set is whole
        _fsync_dir(self.out)
        _test_hook("published")


@contextlib.contextmanager
def staged_output(
    out_dir: str | os.PathLike[str],
    what: str = "results",
    legacy_names: tuple[str, ...] = (),
) -> Iterator[Staging]:
    """Write a set of files (`what`: "results", "report") into `out_dir` all or nothing.

    Yields a :class:`Staging`: write the files into ``staging.dir``, then call
    ``staging.publish(names)``. On any error before the publication the staging folder and
    the folders this call created are removed and the earlier set stays as it was; an
    OSError (or a write that failed because the disk is full) becomes an OutputError
    naming the folder and the fix. `legacy_names` are the names this kind wrote before
    manifests existed (removed with the old set when this run does not write them).
    """
    shown = check_output_dir(out_dir)
    # a symlinked output folder: publish into its target (a swap would replace the link)
    out = shown.resolve() if shown.is_symlink() else shown
    created = _missing_parents(out)
    lock_fd = None
    tmp = None
    try:
        out.mkdir(parents=True, exist_ok=True)
        clean_leftovers(out)
        mode = _choose_mode(out)
        if mode == "exchange":
            tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{_tag(out)}.{what}.", dir=out.parent))
        else:
            tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{what}.", dir=out))
        lock_fd = _flock(tmp, blocking=True)  # alive: the next run's cleanup leaves it
        _test_hook(f"staging {what} in {tmp}")
        _delay()
    except BaseException as exc:  # an OSError, or a signal while setting up
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        _unlock(lock_fd)
        _remove_empty(created)
        if not isinstance(exc, OSError):
            raise
        raise OutputError(
            f"output folder {out} cannot be created or written ({exc.strerror or exc}); "
            "choose another --out folder (one you can write to, not an existing file)."
        ) from exc
    staging = Staging(out, tmp, what, mode, tuple(legacy_names), shown=shown)
    try:
        yield staging
    except BaseException as exc:
        problem = _disk_problem(exc, tmp)
        if problem and not staging.published:
            raise OutputError(
                f"could not write the {what} to {out}: {problem}; free disk space (or raise "
                "the quota or file-size limit), or choose another --out folder. The earlier "
                f"{what} there are unchanged."
            ) from exc
        if isinstance(exc, OSError) and not staging.published:
            raise OutputError(
                f"could not write the {what} to {out} ({exc.strerror or exc}); "
                + fix_for_os_error(exc, reading=False)
            ) from exc
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # after a swap: the old set
        _unlock(lock_fd)
        if not staging.published:
            _remove_empty(created)


_DISK_ERRNOS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
_DISK_WORDS = ("no space left", "file too large", "disk is full", "disk quota", "disk full")


def _disk_problem(exc: BaseException, folder: Path) -> str | None:
    """ "the disk is full (...)" when `exc` (or its cause) says so, or a probe write fails.

    Libraries writing GeoPackage/GeoTIFF often report a full disk in their own words
    ("no such table: buildings", "database or disk is full"), so any failed write is
    followed by a 1 MiB probe in the same folder, which names the errno.
    """
    if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
        return None
    seen = set()
    e: BaseException | None = exc
    said_full = False
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in _DISK_ERRNOS:
            return _no_room(e)
        said_full = said_full or any(w in str(e).lower() for w in _DISK_WORDS)
        e = e.__cause__ or e.__context__
    probed = disk_full(folder)
    if probed is None and said_full:
        return "the disk is full (as the file writer reported)"
    return probed


def disk_full(folder: Path, probe_bytes: int = 1 << 20) -> str | None:
    """Write and remove a `probe_bytes` file in `folder`; the problem when that fails."""
    try:
        fd, name = tempfile.mkstemp(prefix=PROBE_PREFIX, dir=folder)
    except OSError as exc:
        return _no_room(exc) if exc.errno in _DISK_ERRNOS else None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(b"\0" * probe_bytes)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        return _no_room(exc) if exc.errno in _DISK_ERRNOS else None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)
    return None


def _no_room(exc: OSError) -> str:
    if exc.errno == errno.EFBIG:
        return f"a file-size limit was reached ({exc.strerror}; ulimit -f)"
    if exc.errno == errno.EDQUOT:
        return f"the disk quota is used up ({exc.strerror})"
    return f"the disk is full ({exc.strerror})"


# --------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP during a publication; deliver them right after it.

    Only the main thread can set handlers (Python runs them there); elsewhere the
    publication runs unprotected and a killed run is repaired by the next one.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    sigs = [s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s]
    old = {}
    for sig in sigs:
        try:
            old[sig] = signal.signal(sig, lambda signum, frame: pending.append(signum))
        except (ValueError, OSError):
            pass
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(pending):
            signal.raise_signal(sig)


def _delay() -> None:
    """Test hook: sleep SITING_TEST_PUBLISH_DELAY_S seconds between publication steps."""
    value = os.environ.get(DELAY_ENV)
    if value:
        time.sleep(float(value))


def _test_hook(event: str) -> None:
    if os.environ.get(DELAY_ENV):  # tests wait for this line to kill the run mid-publication
        print(f"siting-test: {event}", file=sys.stderr, flush=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write atomically (temp file + rename), synced, readable by all."""
    fd, tmp = tempfile.mkstemp(prefix=PROBE_PREFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _missing_parents(path: Path) -> list[Path]:
    """`path` and its ancestors that do not exist yet, deepest first."""
    missing = []
    for p in (path, *path.parents):
        if p.exists():
            break
        missing.append(p)
    return missing


def _remove_empty(folders: list[Path]) -> None:
    """Remove folders a failed write created, deepest first, if they are still empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


__all__ = [
    "INCOMPLETE",
    "MANIFEST",
    "Staging",
    "check_complete",
    "check_output_dir",
    "clean_leftovers",
    "clean_tmp_dirs",
    "disk_full",
    "exchange",
    "published",
    "read_manifest",
    "staged_output",
]
