"""Stages `generate_candidates` and `size_sources`: the candidate sites, and each one's heat
source and heat pump (docs/model.md §1-3) before any pipe is routed."""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from siting import recovery
from siting.area import Area, reproject
from siting.config import Params, Study
from siting.errors import InputDataError
from siting.ranking import ranking_basis
from siting.sources.sites import (
    SITE_INFO_COLUMNS,
    SITE_LAND_COLUMNS,
    exclusion_zones,
    generate_sites,
    normalise_sites,
)


@dataclass
class Candidates:
    """`generate_candidates`'s output: the sites (study CRS) and which lie in the area."""

    sites: gpd.GeoDataFrame
    inside: np.ndarray  # bool per site: within max_snap_distance_m of the study area
    notes: list[str] = field(default_factory=list)


def generate_candidates(
    study: Study, area: Area, sites: gpd.GeoDataFrame | None = None
) -> Candidates:
    """The given sites (normalised, reprojected), else sites generated from the extract.

    Generated sites come from data centers, industrial/commercial land use and large
    non-residential buildings (`siting.sources.sites.generate_sites`), off the land the study
    excludes, each with an IT load from its usable land. A site outside the study area is
    kept and flagged; none inside is an input error.
    """
    p = study.params
    notes: list[str] = []
    if sites is not None:
        sites = with_site_info(
            _keep_site_info(sites, reproject(normalise_sites(sites, study), area.crs, "sites"))
        )
    else:
        zones = exclusion_zones(area.exclusions, study, area.crs)
        sites = generate_sites(
            area.buildings, area.landuse, area.data_centers, study, area.addresses, zones
        )
        notes += list(sites.attrs.get("notes", []))
        if len(sites) == 0:
            raise InputDataError(
                f"no candidate sites found in {area.source}: it has no data centers, no "
                f"industrial/commercial parcels over {study.min_site_parcel_m2:.0f} m² and no "
                f"non-residential buildings over {study.min_site_building_m2:.0f} m². Give a "
                "sites file (--sites FILE) or lower min_site_parcel_m2 / min_site_building_m2."
            )
    inside = sites.geometry.intersects(area.boundary.buffer(p.max_snap_distance_m)).to_numpy()
    if not inside.any():
        where = study.sites_path or "the sites given"
        raise InputDataError(
            f"none of the {len(sites)} candidate sites in {where} lies inside the study area of "
            f"{area.source} (sites span lon/lat {lonlat_box(sites.geometry)}; the extract "
            f"{lonlat_box(gpd.GeoSeries([area.boundary], crs=area.crs))}). Give sites in the "
            "area of the extract (or an extract covering the sites), and check the sites "
            "file's CRS."
        )
    basis = ranking_basis(sites)
    return Candidates(sites=sites, inside=inside, notes=([basis] if basis else []) + notes)


def _keep_site_info(given: gpd.GeoDataFrame, sites: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The label, address, ... and land columns of given sites (by site_id), which
    normalising drops.

    A tile of a tiled run gets the whole study's generated sites this way; so does a
    notebook passing its own sites.
    """
    cols = [c for c in (*SITE_INFO_COLUMNS, *SITE_LAND_COLUMNS) if c in given.columns]
    if not cols or "site_id" not in given.columns:
        return sites
    info = pd.DataFrame(given[["site_id", *cols]]).drop_duplicates("site_id")
    info = info.assign(site_id=info["site_id"].astype(str)).set_index("site_id")
    out = sites.copy()
    for col in cols:
        out[col] = info[col].reindex(out["site_id"].astype(str)).to_numpy()
    return out


def with_site_info(sites: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """`sites` with every `SITE_INFO_COLUMNS` column; a missing label is the name or the id."""
    sites = sites.copy()
    for col in SITE_INFO_COLUMNS:
        if col not in sites:
            sites[col] = ""
        sites[col] = sites[col].fillna("").astype(str)
    name = sites["name"].fillna("").astype(str).str.strip()
    fallback = name.where(name != "", sites["site_id"].astype(str))
    sites["label"] = sites["label"].where(sites["label"].str.strip() != "", fallback)
    return sites


def lonlat_box(geoms: gpd.GeoSeries) -> str:
    """The lon/lat extent of `geoms` as text, for error messages."""
    x0, y0, x1, y1 = geoms.to_crs("EPSG:4326").total_bounds
    return f"{x0:.3f}..{x1:.3f} E, {y0:.3f}..{y1:.3f} N"


def size_sources(sites: gpd.GeoDataFrame, p: Params) -> pd.DataFrame:
    """Per-site heat source, heat pump and annual recovery (docs/model.md §1-3), vectorised.

    One row per site: temperatures, COP, recovered heat, the heat pump's size (for the
    nameplate IT load, not the average) and the heat it could offer at annual utilisation u.
    Every site starts feasible; the later stages say why one is not.
    """
    cooling = sites["cooling"].to_numpy()
    src_in = np.array([p.source_in_c[c] for c in cooling])
    src_out = np.array([p.source_out_c[c] for c in cooling])
    f_cap = np.array([p.capture_fraction[c] for c in cooling])
    preheat = np.zeros(len(sites))
    cop_hp = np.full(len(sites), np.nan)  # practical model: the heat pump alone
    if p.cop_model == "practical":  # docs/model.md §8.1: preheat, pinch, cap
        op = recovery.heat_pump_operation(
            src_in,
            src_out,
            p.return_temp_c,
            p.supply_temp_c,
            approach_k=p.approach_k,
            eta=p.eta_practical,
            pinch_k=p.pinch_k,
            cop_max=p.cop_max,
        )
        cop = np.asarray(op.cop, dtype=float)
        preheat = np.broadcast_to(np.asarray(op.preheat_share, dtype=float), src_in.shape)
        cop_hp = np.broadcast_to(np.asarray(op.cop_heat_pump, dtype=float), src_in.shape)
    elif p.cop_model == "jesper":
        cop = np.asarray(recovery.jesper_cop(src_in, p.supply_temp_c), dtype=float)
    else:
        cop = np.asarray(
            recovery.lorenz_cop(
                src_in, src_out, p.return_temp_c, p.supply_temp_c, eta=p.eta_lorenz
            ),
            dtype=float,
        )
    cop = np.broadcast_to(cop, src_in.shape).astype(float)
    it_mw = sites["it_load_mw"].to_numpy(dtype=float)
    info = with_site_info(sites)
    rec = recovery.annual_recovery(
        it_mw,
        capture_fraction=f_cap,
        utilisation_it=p.utilisation_it,
        pue=p.pue,
        cop=cop,
        annual_utilisation=p.annual_utilisation,
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = np.where(np.isinf(cop), 1.0, cop / (cop - 1.0))
    return pd.DataFrame(
        {
            "site_id": sites["site_id"].to_numpy(),
            "name": sites["name"].to_numpy(),
            **{col: info[col].to_numpy() for col in SITE_INFO_COLUMNS},
            "origin": sites["origin"].to_numpy(),
            "it_load_mw": it_mw,
            # generated sites: the tag that qualified them and the land their load comes from
            **{col: sites[col].to_numpy() for col in SITE_LAND_COLUMNS if col in sites},
            "cooling": cooling,
            "source_in_c": src_in,
            "source_out_c": src_out,
            "supply_temp_c": p.supply_temp_c,
            "return_temp_c": p.return_temp_c,
            # the machine's COP (inf: direct exchange, no heat pump) and, with a preheat
            # exchanger, the system's: heat delivered / electricity
            "cop": np.where(np.isfinite(cop_hp), cop_hp, cop),
            "cop_system": cop,
            "preheat_share": preheat,
            "recovered_heat_mw": np.asarray(rec.recovered_heat_mw, dtype=float),
            "heat_pump_mw": f_cap * it_mw * lift,
            "available_heat_mwh_per_yr": np.asarray(rec.delivered_heat_mw, dtype=float) * 8760.0,
            # what the heat pump could sell at annual utilisation u, before the route
            "offered_heat_mwh_per_yr": np.asarray(rec.delivered_heat_mwh_per_yr, dtype=float),
            "recovered_heat_mwh_per_yr": np.asarray(rec.recovered_heat_mwh_per_yr, dtype=float),
            "dc_energy_mwh_per_yr": np.asarray(rec.dc_energy_mwh_per_yr, dtype=float),
            "feasible": True,
            "reason": "",
        }
    )
