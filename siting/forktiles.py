"""Tiled runs on this machine's cores without Dask: one read, one forked process per tile.

A tiled run through Dask (:func:`siting.tiles.run_tiled`) builds a GeoParquet store in the
client, reads each core twice (its first pass, then its tile) and projects it twice: the
price of bounded memory at Denmark's size. An extract that a single run holds in memory
(`FORK_MAX_PBF_MB`) needs none of that. :func:`run_forked` reads it once, then forks one
process per tile (two on two cores), which shares the parsed layers with it, copy on write:

1. each process clips its tile's layers (the buffer and `DEMAND_CONTEXT_M` more), estimates
   its buildings, writes its core's share of the buildings layer and sends the first
   pass's summaries (:func:`siting.tiles._summarise_core`), then waits;
2. the first process turns them into the whole study's facts, as a Dask run does (sites,
   DH areas, network demand: :func:`siting.tiles._whole_area_facts`), and sends each tile
   its sites;
3. each process runs its tile's study on what it already holds (no second read, no second
   projection or estimate) and writes the tile as a Dask run's tile.

Sites that need a wider overlap run again in a process forked for them; the merge is the
Dask run's (:func:`siting.tiles._finish_tiled`). The ranking equals the single run's.

Only on Linux (``fork``; children die with their parent, ``PR_SET_PDEATHSIG``), where the
memory is there (`FORK_MB_PER_PBF_MB`: a forked run holds about twice a single run's), from a
process running no other thread (a notebook's kernel runs several: Dask there), for the
default tile count (one tile per core).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import time
import traceback
from multiprocessing.connection import Connection, Pipe
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from siting import forking
from siting.area import metric_crs, reproject
from siting.cache import file_sha256
from siting.config import Study
from siting.errors import SitingError
from siting.outputs import clean_tmp_dirs
from siting.pipeline import as_study
from siting.sources.network import network_from_osm, read_network
from siting.sources.osm import OsmData, read_osm
from siting.sources.sites import read_sites
from siting.sources.stream import ROW_COLUMN
from siting.tiles import (
    DEMAND_CONTEXT_M,
    PREPARE_MARGIN_M,
    TILE_TMP_PREFIX,
    TiledResults,
    _buffer_lonlat,
    _check_first_pass,
    _demand_files,
    _finish_tiled,
    _network_near,
    _report_row,
    _reruns,
    _settle,
    _study_hash,
    _study_tile,
    _summarise_core,
    _tile_dir,
    _tile_study,
    _TiledRun,
    _whole_area_facts,
    default_tile_count,
    make_tiles,
)

FORK_MAX_PBF_MB = 160.0  # larger extracts run through Dask (a store, bounded memory)
# memory a forked run takes per MB of PBF, all processes together (the 64-copy country:
# 5.5 GB of proportional set size for 123 MB), and the share of the available memory it may
FORK_MB_PER_PBF_MB = 45.0
FORK_MEMORY_SHARE = 0.75


def forked_eligible(study: Study, n_workers: int) -> bool:
    """Whether a default local tiled run of `study` runs forked (see the module)."""
    path = Path(str(study.osm_path)) if study.osm_path is not None else None
    return (
        forking.can_fork()
        and n_workers >= 2
        and path is not None
        and path.is_file()
        and path.name.lower().endswith(".pbf")
        and path.stat().st_size <= FORK_MAX_PBF_MB * 2**20
        and path.stat().st_size / 2**20 * FORK_MB_PER_PBF_MB <= FORK_MEMORY_SHARE * _available_mb()
    )


def forked_tile_count(study: Study, n_workers: int = 2) -> int | None:
    """The tiles a default local tiled run of `study` forks (one per worker, fewer where the
    area cannot use them: `default_tile_count`), or None: it runs through Dask."""
    if not forked_eligible(study, n_workers):
        return None
    return min(n_workers, default_tile_count(study))


def _available_mb() -> float:
    """The memory the system can give without swapping (`MemAvailable`), in MB; unknown:
    no limit."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return float("inf")


def run_forked(
    study: Study | dict | str | Path,
    n: int = 2,
    workdir: str | Path | None = None,
    strict: bool = False,
) -> TiledResults:
    """Run `study` in `n` grid tiles, one forked process each (see the module).

    `workdir` (default `study.out_dir / "tiles"`) holds the tiles' files as a Dask run's;
    `strict` raises when any tile fails (by default only when all do).
    """
    study = as_study(study)
    p = study.params
    t0 = time.perf_counter()
    user_network = read_network(study.network_path) if study.network_path is not None else None
    user_sites = read_sites(study.sites_path, study) if study.sites_path is not None else None
    workdir = Path(workdir or Path(study.out_dir) / "tiles").expanduser()
    tiles_dir = workdir / "tiles"
    tiles_dir.mkdir(parents=True, exist_ok=True)
    clean_tmp_dirs(tiles_dir, TILE_TMP_PREFIX)
    osm = read_osm(study.osm_path)  # the one read: every process shares it
    timings: dict[str, float] = {"read_s": time.perf_counter() - t0}
    crs = metric_crs(osm.streets, study.crs)  # the single run's CRS (Area.from_osm)
    tiles = make_tiles(study, n=n, params=p, crs=study.crs).to_crs(crs).reset_index(drop=True)
    network = user_network
    if network is None and study.use_osm_network:
        network = network_from_osm(osm.heat_pipes, osm.heat_plants)
    if network is not None:
        network = reproject(network, crs, network.attrs.get("source", "network"))
    mode = "existing_network" if network is not None and len(network) else "new_local_network"
    need_sites = study.sites_path is None
    need_demand = mode == "existing_network" and p.network_annual_demand_mwh <= 0
    input_key = file_sha256(Path(study.osm_path))
    demand_files = _demand_files(study, input_key, tiles, workdir)
    tile_study = _tile_study(study, crs)
    for layer in _layers(osm).values():  # built once here, shared by every process
        _ = layer.sindex
    job = _Job(osm, crs, study, tile_study, network, mode, need_sites, need_demand)

    kids: dict[str, _Kid] = {}
    try:
        # pass 1 in each tile's process; it keeps what it read for pass 2
        t = time.perf_counter()
        for i, tid in enumerate(tiles["tile_id"]):
            core = tiles.geometry.iloc[i]
            overlap = float(tiles["overlap_m"].iloc[i])
            kids[tid] = _Kid.fork(job, tid, core, overlap, str(demand_files[tid]))
        prep = {tid: kid.receive() for tid, kid in kids.items()}
        _check_first_pass(prep, tiles, timings, t)
        whole = _whole_area_facts(
            study, prep, tiles, crs, mode, need_demand, user_sites, lambda: osm.addresses
        )
        sites = whole.sites
        config_key = _study_hash(tile_study) + input_key

        def out_dir(i: int, mine: gpd.GeoDataFrame, overlap_m: float) -> Path:
            return _tile_dir(tiles_dir, tiles, i, mine, overlap_m, config_key, whole)

        # pass 2: each process studies its tile on what it holds
        t = time.perf_counter()
        report, waiting = [], {}
        for i, tid in enumerate(tiles["tile_id"]):
            mine = sites[sites["_tile"] == tid].drop(columns="_tile").reset_index(drop=True)
            row = _report_row(tid, mine, float(tiles["overlap_m"].iloc[i]))
            report.append(row)
            if len(mine) == 0 or prep[tid]["empty"]:
                kids.pop(tid).close()
                continue
            row["dir"] = out_dir(i, mine, row["overlap_m"])
            kids[tid].send((mine, whole.area, str(row["dir"])))
            waiting[tid] = kids[tid]
        done = {tid: kid.receive() for tid, kid in waiting.items()}
        _settle(report, done)
        timings["tiles_s"] = time.perf_counter() - t

        # pass 3: sites the first overlap could not prove exact, in processes forked for them
        t = time.perf_counter()
        rerun, again = [], {}
        for i, mine, wider in _reruns(report, sites, tiles, crs, p):
            tid = tiles["tile_id"].iloc[i]
            row = _report_row(f"{tid}+", mine, wider)
            row["dir"] = out_dir(i, mine, wider)
            rerun.append(row)
            given = (mine, whole.area, str(row["dir"]))
            again[row["tile_id"]] = kids[row["tile_id"]] = _Kid.fork(
                job, tid, tiles.geometry.iloc[i], wider, None, given=given
            )
        if again:
            _settle(rerun, {tid: kid.receive() for tid, kid in again.items()})
            report += rerun
        timings["rerun_s"] = time.perf_counter() - t
    finally:
        for kid in kids.values():
            kid.close()
    run = _TiledRun(study, tiles, crs, network, mode, demand_files, workdir, strict, t0, timings)
    return _finish_tiled(run, whole, report, prep)


def _layers(osm: OsmData) -> dict[str, gpd.GeoDataFrame]:
    """The extract's layers by name (the GeoDataFrame fields of `osm`)."""
    out = {}
    for f in dataclasses.fields(osm):
        layer = getattr(osm, f.name)
        if isinstance(layer, gpd.GeoDataFrame):
            out[f.name] = layer
    return out


@dataclasses.dataclass
class _Job:
    """What every tile's process shares with the first (inherited at the fork)."""

    osm: OsmData
    crs: pyproj.CRS
    study: Study
    tile_study: Study
    network: gpd.GeoDataFrame | None
    mode: str
    need_sites: bool
    need_demand: bool

    def tile_network(self, geom: shapely.Geometry, core: shapely.Geometry):
        """The network's features that meet `geom` (`run_tiled`'s choice for a tile)."""
        return _network_near(self.network, self.mode, geom, core)


class _Kid:
    """A tile's process and its end of the pipe."""

    def __init__(self, pid: int, conn: Connection) -> None:
        self.pid, self.conn = pid, conn

    @classmethod
    def fork(
        cls,
        job: _Job,
        tid: str,
        core: shapely.Geometry,
        overlap_m: float,
        demand_path: str | None,
        given: tuple | None = None,
    ) -> _Kid:
        if not forking.can_fork():
            raise SitingError(
                "internal error: a forked tiled run needs a process running no other thread"
            )
        here, there = Pipe()

        def child() -> None:
            here.close()
            _tile(there, job, tid, core, overlap_m, demand_path, given)

        pid = forking.fork(child)
        there.close()
        return cls(pid, here)

    def send(self, message: Any) -> None:
        self.conn.send(message)

    def receive(self) -> dict:
        """The process's next answer; a process that ended without one failed."""
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            return {"ok": False, "error": "the tile's process ended without an answer"}

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.close()
        if self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self.pid = 0


def _tile(
    conn: Connection,
    job: _Job,
    tid: str,
    core: shapely.Geometry,
    overlap_m: float,
    demand_path: str | None,
    given: tuple | None,
) -> None:
    """A tile's process: pass 1 on its clip, its summaries sent; then its tile's study."""
    t0 = time.perf_counter()
    try:
        crs = job.crs
        buffer = core.buffer(overlap_m)
        # the tile and the neighbours its buildings' estimates look at, from the shared read
        reads = _buffer_lonlat(buffer.buffer(DEMAND_CONTEXT_M), crs)
        clipped = {}
        for name, layer in _layers(job.osm).items():
            hit = _meeting(layer, reads, exact=False)
            clipped[name] = layer.iloc[hit]
            if name == "buildings":  # their place in the extract: the tile keeps that order
                clipped[name] = clipped[name].assign(**{ROW_COLUMN: hit})
        read = dataclasses.replace(job.osm, **clipped)
        lon_lat = shapely.get_coordinates(clipped["streets"].geometry.values)
        out, kept = _summarise_core(
            read,
            lon_lat,
            core,
            crs,
            job.study,
            job.tile_network(core.buffer(PREPARE_MARGIN_M), core),
            job.need_sites and given is None,
            job.need_demand and given is None,
            demand_path,
            keep=buffer,
            estimates=False,
        )
        read_s = time.perf_counter() - t0
        out["tile_id"] = tid
        out["seconds"] = read_s
        if given is None:
            conn.send(out)
            given = conn.recv()
            if given is None:
                return
        mine, area, out_dir = given
        # the tile's study: the layers meeting its buffer, its buildings estimated above
        in_buffer = _buffer_lonlat(buffer, crs)
        layers = {
            name: layer.iloc[_meeting(layer, in_buffer)]
            for name, layer in clipped.items()
            if name != "buildings"
        }
        area = dict(area)
        if kept is not None and len(kept):
            layers["buildings"] = kept
            area["buildings_estimated"] = True
        else:
            layers["buildings"] = job.osm.buildings.iloc[:0]
        tile_osm = dataclasses.replace(job.osm, **layers)
        network = job.tile_network(buffer, core)
        conn.send(
            _study_tile(
                job.tile_study, tile_osm, network, mine, area, tid, core, out_dir, t0, read_s
            )
        )
    except Exception as exc:
        with contextlib.suppress(Exception):
            conn.send(
                {
                    "tile_id": tid,
                    "ok": False,
                    "error": f"{type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc(),
                    "seconds": time.perf_counter() - t0,
                }
            )


def _meeting(layer: gpd.GeoDataFrame, area: shapely.Geometry, exact: bool = True) -> np.ndarray:
    """Positions of `layer`'s features that meet `area`, in the layer's order; not `exact`:
    those whose boxes meet its box (a superset, for the first pass, which selects by
    geometry itself: the tile's study gets the exact set)."""
    if not len(layer):
        return np.empty(0, dtype=np.int64)
    if not exact:
        return np.sort(layer.sindex.query(shapely.box(*area.bounds)))
    return np.sort(layer.sindex.query(area, predicate="intersects"))


__all__ = ["FORK_MAX_PBF_MB", "forked_eligible", "forked_tile_count", "run_forked"]
