"""Stage `estimate_demand`: each building's floor area, dwellings, heat demand and peak,
scaled to the study's climate, and the heat demand along each street."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from siting import demand, studycache
from siting.config import Params, Study
from siting.errors import InputDataError
from siting.heat_density import MAX_SERVICE_M, nearest_edges, street_linear_heat_density
from siting.routing import StreetGraph
from siting.sources.weather import heating_degree_days, typical_danish_year
from siting.validate import Range, check_range

log = logging.getLogger(__name__)

# street_density attrs worth keeping (its own counts, not the pyrosm metadata it inherited)
_DENSITY_ATTRS = ("assigned", "unassigned", "buildings_", "max_service_m", "viable_mwh_per_m")


@dataclass
class Demand:
    """`estimate_demand`'s output.

    Attributes
    ----------
    buildings : the buildings with `siting.demand.OUTPUT_COLUMNS` (MWh/yr, MW, dwellings).
    street_density : MWh/m/yr of the buildings along each street edge (`viable` flag).
    climate_factor : the scale applied to the Danish specific demands (1.0: none).
    cache_hit : True when the frames came from the demand cache (:mod:`siting.studycache`).
    """

    buildings: gpd.GeoDataFrame
    street_density: gpd.GeoDataFrame
    climate_factor: float = 1.0
    notes: list[str] = field(default_factory=list)
    cache_hit: bool = False


def climate_factor(study: Study, weather: pd.Series, p: Params) -> float:
    """Demand scale for a weather file's climate (docs/model.md §6: scale by local degree-days).

    The specific demands (kWh/m²) are Danish figures, so the reference is the typical Danish
    year; only the space-heating share (1 - dhw_share) scales. 1.0 without a weather file.
    """
    if study.weather_path is None:
        return 1.0
    local = heating_degree_days(weather, p.heating_base_c)
    ref = heating_degree_days(typical_danish_year(), p.heating_base_c)
    return float(p.dhw_share + (1.0 - p.dhw_share) * local / ref)


# a user's buildings may carry their own figures: kept where given (demand_source "given")
GIVEN_HEAT = "heat_demand_mwh_per_yr"
GIVEN_DWELLINGS = "dwellings"
_HEAT_RANGE = Range("MWh/yr", 0.0, 1e6, 0.0, 1e5, why="one building; kWh given as MWh?")
_DWELLINGS_RANGE = Range("", 0.0, 1e4, 0.0, 2e3, why="homes in one building")


def building_demand(
    buildings: gpd.GeoDataFrame,
    study: Study,
    weather: pd.Series,
    landuse: gpd.GeoDataFrame | None = None,
) -> tuple[gpd.GeoDataFrame, float]:
    """`siting.demand.estimate` (land use as context) scaled by :func:`climate_factor`.

    Buildings that carry their own `heat_demand_mwh_per_yr` or `dwellings` (a user's
    layer: metered consumption, a register's homes) keep them where given (not empty);
    only the others are estimated and scaled. Column `demand_source` says which heat
    demand is "given" or "estimated"; the dwellings' rule in `source` reads
    "dwellings:given" where they were kept. Counts are in ``attrs["demand_given"]``.
    """
    p = study.params
    given = {c: buildings[c] for c in (GIVEN_HEAT, GIVEN_DWELLINGS) if c in buildings.columns}
    if given:  # carried through estimate (which overwrites the names) under private ones
        buildings = buildings.rename(columns={c: f"_given_{c}" for c in given})
    est = demand.estimate(buildings, p, landuse=landuse)
    factor = climate_factor(study, weather, p)
    if factor != 1.0:
        est["heat_demand_mwh_per_yr"] *= factor
        est["peak_heat_mw"] *= factor
    est["demand_source"] = pd.array(["estimated"] * len(est), dtype=object)
    counts = {}
    if GIVEN_HEAT in given:
        heat = _given_values(est.pop(f"_given_{GIVEN_HEAT}"), GIVEN_HEAT, _HEAT_RANGE)
        kept = ~np.isnan(heat)
        est.loc[kept, "heat_demand_mwh_per_yr"] = heat[kept]
        est.loc[kept, "peak_heat_mw"] = heat[kept] / p.full_load_hours_h
        est.loc[kept, "demand_source"] = "given"
        counts[GIVEN_HEAT] = int(kept.sum())
    if GIVEN_DWELLINGS in given:
        homes = _given_values(est.pop(f"_given_{GIVEN_DWELLINGS}"), "dwellings", _DWELLINGS_RANGE)
        kept = ~np.isnan(homes)
        if (homes[kept] != np.round(homes[kept])).any():
            raise InputDataError(
                "buildings: dwellings must be whole numbers of homes; round them or leave the "
                "cell empty to have them estimated."
            )
        est.loc[kept, "dwellings"] = homes[kept].astype(np.int64)
        est.loc[kept, "source"] = est.loc[kept, "source"].str.replace(
            r"dwellings:[a-z]+$", "dwellings:given", regex=True
        )
        counts[GIVEN_DWELLINGS] = int(kept.sum())
    est.attrs["demand_given"] = counts
    return est, factor


def _given_values(column: pd.Series, field: str, rng: Range) -> np.ndarray:
    """A user's column as floats (NaN: estimate it); text, negative or absurd values fail."""
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
    text = np.isnan(values) & column.notna().to_numpy()
    if text.any():
        raise InputDataError(
            f"buildings: {field} holds {int(text.sum())} values that are not numbers (e.g. "
            f"{column[text].iloc[0]!r}); give plain numbers or leave cells empty to estimate."
        )
    labels = [f"building {i}" for i in column.index]
    fix = f"Correct {field} in the buildings given, or leave those cells empty to estimate them."
    check_range(values, field, "buildings", labels, rng, fix)
    return values


def given_note(buildings: gpd.GeoDataFrame) -> str | None:
    """A note saying which buildings' demand and dwellings were given and which estimated."""
    counts = buildings.attrs.get("demand_given") or {}
    if not counts:
        return None
    n = len(buildings)
    src = buildings["demand_source"]
    heat = buildings["heat_demand_mwh_per_yr"]
    parts = []
    if GIVEN_HEAT in counts:
        parts.append(
            f"heat demand given for {counts[GIVEN_HEAT]:,} of {n:,} buildings "
            f"({heat[src == 'given'].sum():,.0f} MWh/yr kept), estimated for the other "
            f"{n - counts[GIVEN_HEAT]:,} ({heat[src != 'given'].sum():,.0f} MWh/yr)"
        )
    if GIVEN_DWELLINGS in counts:
        parts.append(
            f"dwellings given for {counts[GIVEN_DWELLINGS]:,} of {n:,} buildings, estimated "
            f"for the other {n - counts[GIVEN_DWELLINGS]:,}"
        )
    return "buildings: " + "; ".join(parts) + " (column demand_source)"


def estimate_demand(
    study: Study,
    buildings: gpd.GeoDataFrame,
    weather: pd.Series,
    graph: StreetGraph,
    landuse: gpd.GeoDataFrame | None = None,
    *,
    estimated: bool = False,
    cache_key: str | None = None,
) -> Demand:
    """Buildings' heat demand (docs/model.md §6, §8.2) and the linear heat density of each street.

    `landuse` (the extract's land-use polygons) helps classify untyped buildings.
    `estimated=True`: `buildings` already went through this stage's estimate with the same
    study (a tiled run estimates each building once, in its core's first pass); only the
    streets' heat density is computed. `cache_key` (:func:`siting.studycache.demand_key`
    of the same buildings, land use, graph and study) takes the result from the demand
    cache, or saves it there.
    """
    if cache_key is not None and not estimated:
        hit = studycache.load_demand(cache_key)
        if hit is not None:
            log.info("demand estimate from the cache: %s", hit.path)
            return Demand(
                buildings=hit.buildings,
                street_density=hit.street_density,
                climate_factor=float(hit.meta["climate_factor"]),
                notes=list(hit.meta["notes"]),
                cache_hit=True,
            )
    if estimated:
        missing = {"heat_demand_mwh_per_yr", "peak_heat_mw", "dwellings"} - set(buildings.columns)
        if missing:
            raise InputDataError(
                f"buildings given as estimated lack {sorted(missing)}; pass the output of "
                "estimate_demand, or estimated=False to estimate them."
            )
        est, factor = buildings, climate_factor(study, weather, study.params)
        est.attrs.setdefault("demand_given", {})
        nearest = None
    else:
        # The street nearest each footprint needs no demand: GEOS searches it outside the
        # GIL on a second thread while this one estimates the demand (pandas, inside it).
        # Footprints too small to heat are left out, unless the buildings carry their own.
        min_m2 = 0.0 if GIVEN_HEAT in buildings.columns else study.params.min_heated_footprint_m2
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="siting-nearest") as pool:
            search = pool.submit(nearest_edges, graph, buildings, MAX_SERVICE_M, min_m2)
            est, factor = building_demand(buildings, study, weather, landuse)
            nearest = search.result()
    density = street_linear_heat_density(
        graph,
        est,
        viable_mwh_per_m=study.params.linear_heat_density_min_mwh_per_m,
        nearest=nearest,
    )
    density.attrs = {k: v for k, v in density.attrs.items() if k.startswith(_DENSITY_ATTRS)}
    notes = [note] if (note := given_note(est)) else []
    if factor != 1.0:
        notes.append(
            f"building heat demand scaled by {factor:.3f} for the weather file's "
            "heating degree-days against the typical Danish year the specific demands assume "
            "(space heating only; hot water unchanged)"
            + ("; given demands are kept as given" if est.attrs["demand_given"] else "")
        )
    if cache_key is not None and not estimated:
        meta = {"climate_factor": factor, "notes": list(notes)}
        studycache.save_demand(cache_key, est, density, meta, later=True)
    return Demand(buildings=est, street_density=density, climate_factor=factor, notes=notes)
