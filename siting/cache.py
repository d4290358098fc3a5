"""On-disk cache of built street graphs, so a second study on the same extract skips the
street parse and the graph build.

An entry is one `.npz` (plain arrays, no pickles: :meth:`StreetGraph.to_arrays`, plus
the streets' hull that bounds the study area) named by a key: the SHA-256 of the OSM
file's bytes (read in 1 MiB chunks) and every parameter the graph depends on (excluded
classes, street multipliers, crossing cost and its reference trench, the study CRS, the
cache format), and the code fingerprint (:func:`siting.cachedir.code_fingerprint`), so
another siting or library version builds the graph anew. Entries are written to a
temporary file in the cache folder and moved into place (`os.replace`), so a reader never
sees half an entry; an entry that cannot be read is rebuilt with a warning. A hit marks
its entry as used; after a write the folder is trimmed to its size bound, least recently
used entries first (`siting.cachedir.evict`).
The folder is `$SITING_CACHE_DIR`, else `$XDG_CACHE_HOME/siting`, else `~/.cache/siting`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely

from siting.cachedir import (
    CHUNK_BYTES,
    cache_dir,
    code_fingerprint,
    file_sha256,
    touch,
    write_file_entry,
)
from siting.routing import CROSSING_REFERENCE_EUR_PER_M, StreetGraph

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
__all__ = ["CHUNK_BYTES", "cache_dir", "file_sha256", "graph_key", "load_graph", "save_graph"]


@dataclass
class CachedGraph:
    """A street graph read from the cache, with the hull of the extract's streets."""

    graph: StreetGraph
    streets_hull: shapely.Geometry
    path: Path


def graph_key(
    osm_path: str | Path,
    multipliers: dict[str, float],
    excluded: tuple[str, ...],
    crossing_cost_eur: float,
    crs: str | None,
) -> str:
    """Cache key of the street graph of `osm_path` built with these parameters."""
    spec = {
        "format": FORMAT_VERSION,
        "osm_sha256": file_sha256(osm_path),
        "multipliers": {str(k): float(v) for k, v in sorted(multipliers.items())},
        "excluded": sorted(str(x) for x in excluded),
        "crossing_cost_eur": float(crossing_cost_eur),
        "crossing_reference_eur_per_m": CROSSING_REFERENCE_EUR_PER_M,
        "crs": crs or "national grid, else UTM",  # the default changed from UTM: a new key
        "code": code_fingerprint(),  # another siting (or numpy, scipy, ...) builds anew
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:40]


def entry_path(key: str, folder: Path | None = None) -> Path:
    return (folder or cache_dir()) / f"streetgraph-{key}.npz"


def load_graph(key: str, folder: Path | None = None) -> CachedGraph | None:
    """The cached graph for `key`, or None (missing, or damaged: warned, then rebuilt)."""
    path = entry_path(key, folder)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        hull = shapely.from_wkb(arrays.pop("streets_hull_wkb").tobytes())
        graph = StreetGraph.from_arrays(arrays)
    except (
        OSError,
        ValueError,
        KeyError,
        EOFError,
        zipfile.BadZipFile,
        shapely.errors.GEOSException,
    ) as exc:
        log.warning(
            "street-graph cache entry %s is damaged (%s: %s); rebuilding it",
            path,
            type(exc).__name__,
            exc,
        )
        return None
    touch(path)
    return CachedGraph(graph=graph, streets_hull=hull, path=path)


def save_graph(
    key: str, graph: StreetGraph, streets_hull: shapely.Geometry, folder: Path | None = None
) -> Path | None:
    """Write the entry atomically; a cache that cannot be written is a warning, not an error."""
    arrays = graph.to_arrays()
    arrays["streets_hull_wkb"] = np.frombuffer(shapely.to_wkb(streets_hull), dtype=np.uint8)
    return write_file_entry(
        entry_path(key, folder), lambda fh: np.savez(fh, **arrays), "street-graph cache"
    )
