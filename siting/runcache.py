"""On-disk cache of whole `siting run` result sets: the same study run again (the same
input files, settings, siting and libraries) publishes the earlier files without computing.

An entry, ``results-<key>/`` in the cache folder (:func:`siting.cachedir.cache_dir`), holds
the files a run published (``ranking.csv``, ``results.gpkg``, ``heat_density.tif``,
``map.html``, GeoParquet layers) and a ``meta.json`` with each file's size and SHA-256, the
run's summary and the warnings it logged (shown again on a hit). The key (:func:`run_key`)
is the SHA-256 of:

* every field of the `Study` but its output folder, each file it names by its path and the
  SHA-256 of its bytes (and of a shapefile's side files), so a changed input misses; the
  path is kept too, since outputs show it (the study's name is its extract's file name
  when unnamed, a registry or network file's path is its `network_source`);
* what the CLI was asked to write (map or not, self-contained or CDN, GeoParquet);
* the entry format and :func:`siting.cachedir.code_fingerprint` (siting's own files and the
  versions of the libraries that shape the numbers), so another siting misses.

A study naming a folder as input, or a file that is missing, is not cached. An entry is
checked file by file against its SHA-256 before use: a damaged one is a miss (warned) and
is written again. Entries are built in a hidden temporary folder and renamed into place, and
the folder is trimmed to its size bound afterwards (:func:`siting.cachedir.evict`); a set
larger than a quarter of that bound is not kept. This module loads no geo library: the CLI
answers a hit without importing them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from siting.cachedir import (
    cache_dir,
    code_fingerprint,
    evict,
    file_sha256,
    max_bytes,
    spec_key,
    touch,
)
from siting.outputs import RESULT_FILES, staged_output

log = logging.getLogger(__name__)

RESULTS_FORMAT = 1
META = "meta.json"
# multi-file vector formats: the side files beside the named one are inputs too
SIDECAR_SUFFIXES = (".shp", ".tab", ".mif")
# loggers whose warnings are the cache's own (not the study's): not replayed on a hit
_OWN_LOGGERS = ("siting.cache", "siting.cachedir", "siting.studycache", "siting.runcache")


class _Uncacheable(Exception):
    """An input the key cannot describe by content (a folder, a missing file)."""


def _inputs_digest(path: Path) -> dict[str, str]:
    """SHA-256 of an input file, and of its side files for a shapefile or MapInfo table."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise _Uncacheable(str(path))
    files = [path]
    if path.suffix.lower() in SIDECAR_SUFFIXES:
        files += sorted(
            p
            for p in path.parent.glob(f"{path.stem}.*")
            if p.is_file() and p != path and p.name[len(path.stem)] == "."
        )
    return {p.name if p != path else "": file_sha256(p) for p in files}


def _by_content(value: Any) -> Any:
    """`value` (a Study as a dict) with every path described by itself and its content."""
    if isinstance(value, Path):
        return {"path": str(value), "file": _inputs_digest(value)}
    if isinstance(value, dict):
        return {str(k): _by_content(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_by_content(v) for v in value]
    return value


def run_key(study: Any, outputs: dict[str, Any]) -> str | None:
    """The cache key of `study` written as `outputs` says; None when it cannot be cached."""
    fields = {f.name: getattr(study, f.name) for f in dataclasses.fields(study)}
    fields.pop("out_dir", None)  # where the files go does not change them
    fields["params"] = dataclasses.asdict(study.params)
    try:
        described = _by_content(fields)
    except (_Uncacheable, OSError):
        return None
    return spec_key(
        {
            "kind": "results",
            "format": RESULTS_FORMAT,
            "study": described,
            "outputs": outputs,
            "reader": os.environ.get("SITING_OSM_READER", "").lower(),
            "code": code_fingerprint(),
        }
    )


def entry_path(key: str, folder: Path | None = None) -> Path:
    return (folder or cache_dir()) / f"results-{key}"


@dataclass
class CachedRun:
    """A result set from the cache: file names by key, the summary and the warnings."""

    path: Path
    files: dict[str, str]
    summary: dict[str, Any]
    warnings: list[tuple[str, int, str]]


def load_run(key: str, folder: Path | None = None) -> CachedRun | None:
    """The cached result set for `key`, or None (missing, or damaged: warned)."""
    path = entry_path(key, folder)
    if not path.is_dir():
        return None
    try:
        meta = json.loads((path / META).read_text(encoding="utf-8"))
        for name, info in meta["checks"].items():
            file = path / name
            if file.stat().st_size != info["bytes"] or file_sha256(file) != info["sha256"]:
                raise ValueError(f"{name} differs from the file that was cached")
        entry = CachedRun(
            path=path,
            files=dict(meta["files"]),
            summary=dict(meta["summary"]),
            warnings=[(str(n), int(lv), str(m)) for n, lv, m in meta["warnings"]],
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("cached results %s are damaged (%s); running the study again", path, exc)
        return None
    touch(path)
    return entry


def save_run(
    key: str,
    files: dict[str, Path],
    summary: dict[str, Any],
    warnings: list[tuple[str, int, str]],
    folder: Path | None = None,
) -> Path | None:
    """Keep copies of the published `files` (key -> path) under `key`; None when it fails.

    A set larger than a quarter of the cache's bound (a country's GeoPackage) is not kept:
    it would push every other entry out, and its copy costs as much as the disk is slow.
    """
    path = entry_path(key, folder)
    total = sum(Path(src).stat().st_size for src in files.values())
    if total > max_bytes() // 4:
        log.info("results of %.0f MB not kept in the cache (bound %s)", total / 1e6, path.parent)
        return None
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".results-", dir=path.parent))
        checks, names = {}, {}
        for what, src in files.items():
            name = Path(src).name
            shutil.copyfile(src, tmp / name)
            checks[name] = {"bytes": (tmp / name).stat().st_size, "sha256": file_sha256(tmp / name)}
            names[what] = name
        meta = {
            "format": RESULTS_FORMAT,
            "files": names,
            "checks": checks,
            "summary": summary,
            "warnings": warnings,
        }
        (tmp / META).write_text(json.dumps(meta), encoding="utf-8")
        if path.exists():  # a damaged entry (this run missed it): replace it
            shutil.rmtree(path)
        os.rename(tmp, path)
        tmp = None
    except OSError as exc:
        log.warning("could not keep the results in the cache %s (%s); continuing", path, exc)
        return None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    evict(path.parent, keep=path)
    return path


def publish_run(entry: CachedRun, out_dir: Path) -> dict[str, Path]:
    """Publish a cached result set into `out_dir` as one set (as `Results.to_files` does)."""
    with staged_output(out_dir, "results", legacy_names=RESULT_FILES) as stage:
        for name in entry.files.values():
            shutil.copyfile(entry.path / name, stage.dir / name)
        final = stage.publish(list(entry.files.values()))
    for logger, level, message in entry.warnings:
        logging.getLogger(logger).log(level, "%s", message)
    return {what: final[name] for what, name in entry.files.items()}


class WarningRecorder(logging.Handler):
    """Collects the warnings siting logs during a run, to be shown again on a cache hit."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.records: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith(_OWN_LOGGERS):
            self.records.append((record.name, record.levelno, record.getMessage()))
