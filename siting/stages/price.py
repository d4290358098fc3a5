"""Stages `price` and `rank`: CAPEX, OPEX, LCOH, NPV, CO2 and ERF per site (docs/model.md §4-5,
numpy only), then the ranking, score and Pareto front."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from siting import economics, pipes, recovery
from siting.config import Params, Study
from siting.ranking import pareto_front, rank_sites
from siting.stages.networks import site_prices


def price(table: pd.DataFrame, p: Params) -> pd.DataFrame:
    """CAPEX, LCOH, NPV, CO2 and ERF per site (docs/model.md §4-5), vectorised over sites."""
    t = table.copy()
    feas = t["feasible"].to_numpy()
    peak = t["heat_pump_mw"].to_numpy()
    cop = t["cop_system"].to_numpy()
    direct = np.isinf(cop)
    t["pipe_dn"] = np.where(feas, pipes.select_dn(peak, p.pipe_delta_t_k), 0).astype(int)
    trench_eur_per_m = p.pipe_cost_factor * np.asarray(pipes.trench_cost_eur_per_m(peak))
    pipe_capex = np.where(
        feas, np.nan_to_num(t["route_cost_eq_m"].to_numpy()) * trench_eur_per_m, 0
    )
    # routing priced parts of the pipe itself (siting.routing): a route's crossings at their
    # EUR, not as metres of trench at this site's size; a local network per pipe at its own DN
    if "crossing_cost_eq_m" in t:
        fixed = np.nan_to_num(t["crossing_capex_eur"].to_numpy(dtype=float))
        eq_m = np.nan_to_num(t["crossing_cost_eq_m"].to_numpy(dtype=float))
        pipe_capex = np.where(feas, pipe_capex + fixed - eq_m * trench_eur_per_m, 0.0)
    if "routed_pipe_capex_eur" in t:  # trench x pipe_cost_factor; crossings are fixed EUR
        fixed = np.nan_to_num(t["crossing_capex_eur"].to_numpy(dtype=float))
        local = np.nan_to_num(t["routed_pipe_capex_eur"].to_numpy(dtype=float)) - fixed
        pipe_capex = np.where(feas, p.pipe_cost_factor * local + fixed, 0.0)
    hp_capex = np.where(
        feas & ~direct,
        p.heat_pump_capex_factor * peak * np.asarray(economics.heat_pump_capex_eur_per_mw(peak)),
        0.0,
    )
    station = np.where(
        feas & t["connection_station"].to_numpy(dtype=bool),
        np.asarray(pipes.connection_station_capex_eur(peak), dtype=float),
        0.0,
    )
    hp_del = t["heat_pump_delivered_mwh_per_yr"].to_numpy()
    delivered = t["delivered_heat_mwh_per_yr"].to_numpy()
    # heat-pump electricity from the yearly operation; pumping is 2 % of the heat carried
    hp_el = np.where(feas, t["heat_pump_electricity_mwh_per_yr"].to_numpy(), 0.0)
    pump_el = pipes.PUMPING_ELECTRICITY_FRACTION * hp_del
    electricity = hp_el + pump_el
    with np.errstate(divide="ignore", invalid="ignore"):
        cop_eff = np.where(electricity > 0, delivered / electricity, np.inf)
    km = np.nan_to_num(t["route_length_m"].to_numpy()) / 1000.0
    # the data center's cable to its substation (stage connect_grid), its own CAPEX line:
    # per MW of the site's grid demand and km; unpriced where no substation was found
    grid_capex = np.zeros(len(t))
    if "grid_distance_m" in t:
        grid_km = np.nan_to_num(t["grid_distance_m"].to_numpy(dtype=float)) / 1000.0
        grid_mw = np.nan_to_num(t["grid_demand_mw"].to_numpy(dtype=float))
        grid_capex = np.where(feas, p.grid_connection_eur_per_mw_km * grid_mw * grid_km, 0.0)
    items = [
        (hp_capex, p.heat_pump_life_yr, 0.0),
        (pipe_capex, p.pipe_life_yr, p.pipe_om_fraction),
        (station, p.heat_pump_life_yr, 0.0),
    ]
    grid_item = (grid_capex, p.grid_connection_life_yr, p.grid_connection_om_fraction)
    fom = np.where(feas & ~direct, p.heat_pump_fom_eur_per_mw_yr * peak, 0.0)
    vom = p.heat_pump_vom_eur_per_mwh + p.pipe_vom_eur_per_mwh_km * km
    ef_displaced, heat_price = site_prices(t, p)
    # what the heat pump pays per MWh: its consumption-weighted energy price where an hourly
    # price series was given (else the flat price) plus electricity tax and grid tariffs
    weighted = (
        t["electricity_price_weighted_eur_per_mwh"].to_numpy(dtype=float)
        if "electricity_price_weighted_eur_per_mwh" in t
        else np.full(len(t), np.nan)
    )
    energy = np.where(np.isfinite(weighted), weighted, p.electricity_price_eur_per_mwh)
    el_price = np.asarray(
        economics.heat_pump_electricity_price_eur_per_mwh(
            energy,
            electricity_tax_eur_per_mwh=p.electricity_tax_eur_per_mwh,
            tso_tariff_eur_per_mwh=p.tso_tariff_eur_per_mwh,
            dso_tariff_eur_per_mwh=p.dso_tariff_eur_per_mwh,
        ),
        dtype=float,
    )
    t["electricity_cost_eur_per_mwh"] = el_price
    econ_args = (
        [*items, grid_item],
        fom,
        vom,
        el_price,
        cop_eff,
        delivered,
        p.discount_rate,
    )
    lcoh = np.asarray(economics.lcoh_eur_per_mwh(*econ_args), dtype=float)
    npv = np.asarray(
        economics.npv_eur(
            *econ_args, heat_price_eur_per_mwh=heat_price, horizon_yr=p.analysis_years
        ),
        dtype=float,
    )
    co2 = np.asarray(
        economics.co2_avoided_t_per_yr(
            delivered, electricity, ef_displaced, p.ef_electricity_t_per_mwh
        ),
        dtype=float,
    )
    # LCOH split into its four terms (they sum to lcoh_eur_per_mwh), so a table reader can
    # see what drives a site's cost without re-running the model; the grid connection's
    # capital and O&M are their own term
    annual_capex = sum(c * economics.crf(p.discount_rate, life) for c, life, _ in items)
    annual_om = fom + sum(c * om for c, _, om in items)
    grid_annual = grid_capex * (
        economics.crf(p.discount_rate, p.grid_connection_life_yr) + p.grid_connection_om_fraction
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        t["lcoh_capital_eur_per_mwh"] = np.where(feas, annual_capex / delivered, np.nan)
        t["lcoh_om_eur_per_mwh"] = np.where(feas, annual_om / delivered + vom, np.nan)
        t["lcoh_electricity_eur_per_mwh"] = np.where(feas, el_price / cop_eff, np.nan)
        t["lcoh_grid_eur_per_mwh"] = np.where(feas, grid_annual / delivered, np.nan)
    # everything the site costs a year (the LCOH's numerator): what a portfolio sums
    t["annual_cost_eur_per_yr"] = np.where(
        feas,
        annual_capex + annual_om + grid_annual + delivered * vom + el_price * electricity,
        np.nan,
    )
    reused = np.where(feas, t["reused_heat_mwh_per_yr"].to_numpy(), 0.0)
    erf = reused / t["dc_energy_mwh_per_yr"].to_numpy()
    t["co2_factor_displaced_kg_per_mwh"] = 1000.0 * ef_displaced
    t["heat_price_eur_per_mwh"] = heat_price
    t["heat_pump_capex_eur"] = hp_capex
    t["pipe_capex_eur"] = pipe_capex
    t["station_capex_eur"] = station
    t["grid_capex_eur"] = grid_capex
    t["capex_eur"] = hp_capex + pipe_capex + station + grid_capex
    t["electricity_mwh_per_yr"] = electricity
    t["cop_effective"] = cop_eff
    t["lcoh_eur_per_mwh"] = np.where(feas, lcoh, np.nan)
    t["npv_eur"] = np.where(feas, npv, np.nan)
    t["co2_avoided_t_per_yr"] = np.where(feas, co2, 0.0)
    t["reused_heat_mwh_per_yr"] = reused
    t["wasted_heat_mwh_per_yr"] = np.where(
        feas, t["recovered_heat_mwh_per_yr"].to_numpy() - reused, t["recovered_heat_mwh_per_yr"]
    )
    t["erf"] = erf
    for col, flags in recovery.enefg_flags(erf).items():
        t[col] = flags
    for col in (
        "capex_eur",
        "heat_pump_capex_eur",
        "pipe_capex_eur",
        "station_capex_eur",
        "grid_capex_eur",
    ):
        t.loc[~feas, col] = np.nan
    return t


def rank(
    table: pd.DataFrame, study: Study, sites: gpd.GeoDataFrame, routes: gpd.GeoDataFrame
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Rank the priced sites (`study.ranking`), mark the Pareto front, order the routes.

    Returns the ranking as a GeoDataFrame (site geometries, study CRS) and the routes with
    each site's rank and CAPEX, best first.
    """
    ranked = rank_sites(table, study.ranking, study.score_weights)
    ranked["pareto"] = pareto_front(ranked)
    geometry = sites.set_index("site_id").geometry.reindex(ranked["site_id"]).values
    ranked_gdf = gpd.GeoDataFrame(ranked, geometry=geometry, crs=sites.crs)
    routes = routes.drop(columns=["rank", "capex_eur"], errors="ignore")  # a re-rank
    routes = routes.merge(ranked[["site_id", "rank", "capex_eur"]], on="site_id", how="left")
    routes = routes.sort_values("rank", kind="stable").reset_index(drop=True)
    return ranked_gdf, routes


def rerank(table: Any, study: Study, p: Params) -> pd.DataFrame:
    """Re-price a ranking's sites under `p` and rank them again (economics-only changes).

    Exact for parameters that enter only `price` (electricity and heat prices, discount
    rate, CAPEX factors, lifetimes, emission factors): the earlier stages are unchanged.
    """
    return rank_sites(
        price(pd.DataFrame(table).drop(columns="geometry", errors="ignore"), p),
        study.ranking,
        study.score_weights,
    )
