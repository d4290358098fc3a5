"""Stage `estimate_demand`: each building's floor area, dwellings, heat demand and peak,
scaled to the study's climate, and the heat demand along each street."""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import pandas as pd

from siting import demand
from siting.config import Params, Study
from siting.heat_density import street_linear_heat_density
from siting.routing import StreetGraph
from siting.sources.weather import heating_degree_days, typical_danish_year

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
    """

    buildings: gpd.GeoDataFrame
    street_density: gpd.GeoDataFrame
    climate_factor: float = 1.0
    notes: list[str] = field(default_factory=list)


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


def building_demand(
    buildings: gpd.GeoDataFrame,
    study: Study,
    weather: pd.Series,
    landuse: gpd.GeoDataFrame | None = None,
) -> tuple[gpd.GeoDataFrame, float]:
    """`siting.demand.estimate` (land use as context) scaled by :func:`climate_factor`."""
    p = study.params
    est = demand.estimate(buildings, p, landuse=landuse)
    factor = climate_factor(study, weather, p)
    if factor != 1.0:
        est["heat_demand_mwh_per_yr"] *= factor
        est["peak_heat_mw"] *= factor
    return est, factor


def estimate_demand(
    study: Study,
    buildings: gpd.GeoDataFrame,
    weather: pd.Series,
    graph: StreetGraph,
    landuse: gpd.GeoDataFrame | None = None,
) -> Demand:
    """Buildings' heat demand (docs/model.md §6, §8.2) and the linear heat density of each street.

    `landuse` (the extract's land-use polygons) helps classify untyped buildings.
    """
    est, factor = building_demand(buildings, study, weather, landuse)
    density = street_linear_heat_density(
        graph, est, viable_mwh_per_m=study.params.linear_heat_density_min_mwh_per_m
    )
    density.attrs = {k: v for k, v in density.attrs.items() if k.startswith(_DENSITY_ATTRS)}
    notes = []
    if factor != 1.0:
        notes.append(
            f"building heat demand scaled by {factor:.3f} for the weather file's "
            "heating degree-days against the typical Danish year the specific demands assume "
            "(space heating only; hot water unchanged)"
        )
    return Demand(buildings=est, street_density=density, climate_factor=factor, notes=notes)
