"""Atomic output folders: files are written to a staging folder, moved in only when complete."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from siting.errors import OutputError


class Staging:
    """A staging folder inside the output folder; `publish` moves the finished files in."""

    def __init__(self, out: Path, tmp: Path) -> None:
        self.out = out
        self.dir = tmp
        self.moved: list[Path] = []

    def publish(self, names: list[str]) -> dict[str, Path]:
        """Move staged files into the output folder, in the order given (put the index last)."""
        final = {}
        for name in names:
            os.chmod(self.dir / name, 0o644)  # staged with mkstemp/mkdtemp: make it shareable
            os.replace(self.dir / name, self.out / name)
            self.moved.append(self.out / name)
            final[name] = self.out / name
        return final


@contextlib.contextmanager
def staged_output(out_dir: Path, what: str = "results") -> Iterator[Staging]:
    """Write `what` into `out_dir` all or nothing.

    Yields a :class:`Staging`; files written in `staging.dir` and published stay; on any
    error the staging folder, files already moved by this write and folders it created are
    removed, and an OSError becomes an :class:`OutputError` naming the folder and the fix.
    Earlier outputs with other names are never touched.
    """
    out = Path(out_dir).expanduser()
    created = _missing_parents(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".siting-tmp-", dir=out))
    except OSError as exc:
        _remove_empty(created)
        raise OutputError(
            f"output folder {out} cannot be created or written ({exc.strerror or exc}); "
            "choose another --out folder (one you can write to, not an existing file)."
        ) from exc
    staging = Staging(out, tmp)
    ok = False
    try:
        yield staging
        ok = True
    except OSError as exc:
        raise OutputError(
            f"could not write the {what} to {out} ({exc.strerror or exc}); check free disk "
            "space and permissions, or choose another --out folder."
        ) from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if not ok:
            for path in staging.moved:  # half a set of outputs would mislead
                path.unlink(missing_ok=True)
            _remove_empty(created)


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
