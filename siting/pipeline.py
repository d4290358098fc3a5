"""The stage runner: runs named stages in order, times each, shows progress, gathers notes.

A stage is a plain public function in :mod:`siting.stages` (typed inputs, a typed output,
no timing or progress code inside). The runner wraps each call: it records the seconds the
stage took under ``<name>_s``, advances the progress bar, and collects the ``notes`` the
stage's output carries (a ``notes`` attribute, a list of strings an analyst should read).

    runner = Runner(STAGES, progress=True)
    inputs = runner("load_inputs", stages.load_inputs, study)
    ...
    runner.close()
    runner.timings_s, runner.notes

After each stage the runner gives the memory the stage freed back to the system
(:func:`siting.sources.ingest.release_memory`); with ``SITING_RSS_LOG=<file>`` set it
appends each stage's seconds and resident memory (now and peak, MB) to that file
(:func:`log_rss`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import geopandas as gpd

from siting import cachedir, stages, validate
from siting.config import Study
from siting.results import Results
from siting.sources.ingest import release_memory
from siting.sources.osm import OsmData

T = TypeVar("T")

# The single run's stages in order (DESIGN.md "a pipeline of named stages"); `publish` is
# Results.to_files, called by whoever asked for files.
STAGES: tuple[str, ...] = (
    "load_inputs",
    "prepare_area",
    "street_graph",
    "estimate_demand",
    "generate_candidates",
    "find_networks",
    "size_sources",
    "connect",
    "connect_grid",
    "operate",
    "price",
    "rank",
)

# the timing keys v1 reported (Results.timings_s), kept for scripts that read them
_LEGACY_TIMING = {
    "load_inputs": "read_s",
    "street_graph": "graph_s",
    "estimate_demand": "demand_s",
    "connect": "routing_s",
    "operate": "recovery_s",
}


class Runner:
    """Run stages by name: time each one, drive one progress bar, collect notes.

    Parameters
    ----------
    stages : the names of the stages this run will call, in order (the progress total).
    progress : show a tqdm bar over the stages (the CLI asks for it on a terminal).
    """

    def __init__(self, stages: Sequence[str] = STAGES, *, progress: bool = False) -> None:
        self.stages = tuple(stages)
        self.timings_s: dict[str, float] = {}
        self.notes: list[str] = []
        self._t0 = time.perf_counter()
        self._bar = None
        if progress:
            tqdm = _progress_bar_class()

            self._bar = tqdm(total=len(self.stages), unit="stage", leave=False)

    def __call__(self, name: str, stage: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `stage(*args, **kwargs)` as the stage `name`; return its output."""
        if self._bar is not None:
            self._bar.set_description(name.replace("_", " "))
        t = time.perf_counter()
        try:
            out = stage(*args, **kwargs)
        except BaseException:
            # the run stops here: the cache writes it started finish first, so none is left
            # to a later run (their own failures are logged, this stage's error is raised)
            cachedir.wait_for_writes(raising=False)
            raise
        release_memory()
        seconds = time.perf_counter() - t
        self.timings_s[f"{name}_s"] = seconds
        if name in _LEGACY_TIMING:
            self.timings_s[_LEGACY_TIMING[name]] = seconds
        self.notes.extend(getattr(out, "notes", None) or [])
        if os.environ.get("SITING_RSS_LOG"):
            log_rss(name, seconds)
        if self._bar is not None:
            self._bar.update(1)
        return out

    def close(self) -> None:
        """Wait for the stages' cache writes, stop the clock (``total_s``), close the bar."""
        cachedir.wait_for_writes()  # written beside the later stages (cachedir.write_later)
        self.timings_s["total_s"] = time.perf_counter() - self._t0
        if self._bar is not None:
            self._bar.close()


def rss_mb() -> dict[str, float]:
    """This process's resident memory now and at its peak, MB (Linux; {} elsewhere)."""
    try:
        with open("/proc/self/status") as f:
            fields = dict(line.split(":", 1) for line in f if line.startswith(("VmRSS", "VmHWM")))
    except OSError:
        return {}
    # the values read "  123456 kB"
    return {k.lower() + "_mb": int(v.split()[0]) / 1024 for k, v in fields.items()}


def log_rss(name: str, seconds: float | None = None) -> None:
    """Append `name`, its seconds and the RSS now/peak to the file `$SITING_RSS_LOG` names.

    A memory profile per stage, for finding what holds memory across a large run; off
    unless the variable is set.
    """
    path = os.environ.get("SITING_RSS_LOG")
    if not path:
        return
    mem = rss_mb()
    with open(path, "a") as f:
        f.write(
            f"{name}\t{'' if seconds is None else f'{seconds:.2f}'}"
            f"\t{mem.get('vmrss_mb', 0):.0f}\t{mem.get('vmhwm_mb', 0):.0f}\n"
        )


def _progress_bar_class():
    """tqdm's notebook bar where ipywidgets exists, else its text bar (no TqdmWarning)."""
    import importlib.util

    if importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.auto import tqdm
    else:
        from tqdm.std import tqdm
    return tqdm


def served_demand_mwh(sites: gpd.GeoDataFrame, fallback: float) -> float:
    """The largest annual demand a feasible site serves (the network figure a reader sees)."""
    if "served_demand_mwh_per_yr" in sites:
        served = sites.loc[sites["feasible"].astype(bool), "served_demand_mwh_per_yr"]
        if served.notna().any():
            return float(served.max())
    return float(fallback)


def cache_hits(inputs: stages.Inputs, dem: stages.Demand) -> dict[str, float]:
    """Which caches the run hit (1.0) or missed (0.0), as `Results.timings_s` reports them."""
    return {
        "graph_cache_hit": float(inputs.cached_graph is not None),
        "layers_cache_hit": float(inputs.cached_layers is not None),
        "demand_cache_hit": float(dem.cache_hit),
    }


def as_study(config: Study | dict | str | Path) -> Study:
    """A :class:`Study` from a Study, a mapping or a YAML path, its values range-checked.

    A value past its plausible limit (:mod:`siting.validate`) is a ConfigError; one in
    the unusual band is logged as a warning (once).
    """
    if isinstance(config, Study):
        study = config
    elif isinstance(config, dict):
        validate.check_raw_config(config, "study")
        study = Study.from_dict(config)
    else:
        return Study.from_yaml(config)  # checks the ranges itself, naming the file
    validate.check_study(study)
    return study


def _results(
    study: Study,
    r: Runner,
    inputs: stages.Inputs,
    dem: stages.Demand,
    nets: stages.Networks,
    grid: stages.GridConnections,
    ranked: gpd.GeoDataFrame,
    routes: gpd.GeoDataFrame,
) -> Results:
    """The `Results` of a single run from its stages' outputs."""
    return Results(
        study=study,
        sites=ranked,
        routes=routes,
        buildings=Results.buildings_layer(dem.buildings),
        network=nets.network,
        mode=nets.mode,
        timings_s={**r.timings_s, **cache_hits(inputs, dem)},
        weather=inputs.weather,
        network_demand_mwh_per_yr=served_demand_mwh(ranked, nets.annual_demand_mwh),
        notes=r.notes,
        street_density=dem.street_density,
        dh_areas=nets.dh_areas,
        series=inputs.series,
        grid_lines=grid.lines,
        substations=grid.substations,
    )


def run_single(
    study: Study,
    *,
    osm: OsmData | None = None,
    network: gpd.GeoDataFrame | None = None,
    sites: gpd.GeoDataFrame | None = None,
    street_graph: Any = None,
    progress: bool = False,
    network_from_extract: bool | None = None,
    network_demand_mwh: float | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    streets: gpd.GeoDataFrame | None = None,
    buildings_estimated: bool = False,
    dh_areas: gpd.GeoDataFrame | None = None,
    registry_matched: bool | None = None,
) -> Results:
    """The whole study in one process: every stage of `STAGES` in order (see `siting.run`).

    `network_from_extract` says a given `network` is an extract's OSM pipes (not a user's
    file); `network_demand_mwh` is the demand of the buildings its pipes serve, computed
    over a larger area (tiled runs pass both; otherwise they are worked out here).
    `buildings` and `streets` (GeoDataFrames) replace the extract's layers (`load_inputs`).
    A tiled run also passes the whole study's facts a tile cannot see: `osm.buildings`
    already estimated in the study CRS (`buildings_estimated`), the DH areas found from
    every building (`dh_areas`) and whether any site matched a registry network
    (`registry_matched`).
    """
    p, r, s = study.params, Runner(progress=progress), stages
    # one line per stage reads as the pipeline it is
    # fmt: off
    inputs = r("load_inputs", s.load_inputs, study, osm=osm, network=network, sites=sites,
               want_cache=street_graph is None, network_from_extract=network_from_extract,
               buildings=buildings, streets=streets)
    prep = r("prepare_area", s.prepare_area, study, inputs)
    area = prep.area
    graph = r("street_graph", s.street_graph, study, inputs, area, street_graph).graph
    area.drop_rows("streets")  # the graph holds the ones it routes on
    dem = r("estimate_demand", s.estimate_demand, study, area.buildings, inputs.weather, graph,
            area.landuse, estimated=buildings_estimated, cache_key=inputs.demand_key)
    cand = r("generate_candidates", s.generate_candidates, study, area, inputs.sites)
    area.drop_rows("buildings")  # dem.buildings are the ones the later stages read
    nets = r("find_networks", s.find_networks, p, area.network, graph, dem.buildings,
             from_extract=prep.network_from_extract, sites=cand.sites, registry=inputs.registry,
             street_density=dem.street_density, near_pipes_mwh=network_demand_mwh,
             dh_areas=dh_areas, registry_matched=registry_matched)
    table = r("size_sources", s.size_sources, cand.sites, p)
    conn = r("connect", s.connect, graph, nets, dem.buildings, cand.sites, table, cand.inside, p,
             study.max_route_geometries)
    grid = r("connect_grid", s.connect_grid, graph, area.power, cand.sites, conn.table, p,
             study.max_route_geometries)
    operated = r("operate", s.operate, grid.table, p, inputs.weather, nets, inputs.series)
    priced = r("price", s.price, operated.table, p)
    ranked, routes = r("rank", s.rank, priced, study, cand.sites, conn.routes)
    # fmt: on
    r.close()
    results = _results(study, r, inputs, dem, nets, grid, ranked, routes)
    # the layers, the graph and the estimate's tag columns go now, not after the caller
    # has written the files: their memory is given back before that
    del inputs, prep, area, graph, dem, cand, nets, table, conn, grid, operated, priced
    release_memory()
    return results
