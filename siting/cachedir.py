"""Where siting keeps its caches, and the content hash (SHA-256) that keys their entries.

The folder is `$SITING_CACHE_DIR`, else `$XDG_CACHE_HOME/siting`, else `~/.cache/siting`.
Entries are named by the hash of the input file's bytes, not by its path, so the same data
hits the cache from any path and a changed file never does.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

CHUNK_BYTES = 1 << 20


def cache_dir() -> Path:
    """Where entries live: $SITING_CACHE_DIR, else $XDG_CACHE_HOME/siting, ~/.cache/siting."""
    if os.environ.get("SITING_CACHE_DIR"):
        return Path(os.environ["SITING_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "siting"


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in chunks (extracts can be gigabytes)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
