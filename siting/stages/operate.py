"""Stage `operate`: each routed site over a year, hour by hour (or the annual shortcut):
heat the network takes, electricity, heat reused and wasted (numpy only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from siting import homes
from siting.config import Params
from siting.hourly import (
    hourly_recovery,
    network_demand_profile,
    supply_temperature_curve,
    unit_count,
)
from siting.networks.supply import must_run_profile_mw
from siting.stages.inputs import HourlySeries
from siting.stages.networks import Networks, attach_networks, homes_served, homes_standard


@dataclass
class Operated:
    """`operate`'s output: the site table with the year's operation columns."""

    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def operate(
    table: pd.DataFrame,
    p: Params,
    weather: pd.Series,
    networks: Networks,
    series: HourlySeries | None = None,
) -> Operated:
    """The year's operation of every feasible site (see :func:`yearly_operation`).

    Each site first gets its network's facts (`attach_networks`): the demand it serves,
    must-run supply, CO2 factor and heat price.
    """
    table = attach_networks(table, networks, p)
    t = yearly_operation(table, p, weather, networks.annual_demand_mwh, networks.mode, series)
    # the same heat counted as Danish standard flats (7.8 MWh/yr [V S30]) beside homes
    delivered = t["delivered_heat_mwh_per_yr"].to_numpy(dtype=float)
    t["flats_served"] = np.asarray(homes.flats_served(np.maximum(delivered, 0.0))).astype(int)
    t["homes_standard"] = (
        homes_standard(p)[1]
        if networks.mode == "existing_network"
        else "dwellings of the connected buildings (new local network)"
    )
    return Operated(t)


def demand_shape(outdoor_c: np.ndarray, p: Params, loss_share: float = 0.0) -> np.ndarray:
    """Hourly demand per MWh/yr fed in: degree-hours + flat hot water, plus flat losses.

    A network's losses (`loss_share` of the heat fed in) barely follow the weather, so they
    are flat; in summer they are a large part of what a network takes.
    """
    shape = network_demand_profile(outdoor_c, 1.0, p.dhw_share, p.heating_base_c)
    return loss_share / len(outdoor_c) + (1.0 - loss_share) * shape


def network_residual_mw(
    shape: np.ndarray, served_mwh: float, must_run_flat_mwh: float, must_run_solar_mwh: float
) -> tuple[np.ndarray, np.ndarray]:
    """A network's hourly demand left after its must-run producers, and their hourly MW.

    `shape` is :func:`demand_shape` (per MWh/yr fed in), `served_mwh` the heat fed into the
    network over a year; must-run supply serves the load first (flat waste/surplus heat,
    monthly solar; `siting.networks.supply.must_run_profile_mw`).
    """
    demand = shape * served_mwh
    if must_run_flat_mwh <= 0 and must_run_solar_mwh <= 0:
        return demand, np.zeros_like(demand)
    must = must_run_profile_mw(must_run_flat_mwh, demand, must_run_solar_mwh)
    return demand - must, must


def run_hourly(
    rows: pd.DataFrame,
    p: Params,
    weather: pd.Series,
    network_mwh: float,
    mode: str,
    return_hourly: bool = False,
    must_run: bool = True,
    series: HourlySeries | None = None,
    alone: bool = False,
):
    """The hourly model for the routed, feasible sites in `rows` (columns of the ranking).

    Existing network: each site serves `served_demand_mwh_per_yr` (heat fed into its network
    over a year, losses included; else `network_mwh`); its must-run producers
    (`must_run_flat_mwh_per_yr`, `must_run_solar_mwh_per_yr`) serve the load first
    (`siting.networks.supply.must_run_profile_mw`) and the site competes for the rest.
    `must_run=False` leaves them out (what the site would deliver without them). Local
    network: the connected buildings' demand. Returns the :class:`siting.hourly.HourlyResult`
    (heat-pump side), each site's transfer efficiency, the annual demand it serves and the
    must-run MWh/yr its network had. `series` holds the hourly IT load, source temperature
    and electricity price where the study gives them. `alone=True` gives each site the
    numbers it gets when `rows` holds it alone, bit for bit (figures of one site at a time,
    drawn for many at once): a demand row per site, not one shared row that `share_max`
    scales per site (memory n_sites x n_hours).
    """
    series = series or HourlySeries()
    outdoor = weather.to_numpy(dtype=float)
    keep = rows["transfer_efficiency"].to_numpy(dtype=float)
    n = len(rows)
    mr_flat = np.zeros(n)
    mr_solar = np.zeros(n)
    if mode == "existing_network":
        served = (
            rows["served_demand_mwh_per_yr"].to_numpy(dtype=float)
            if "served_demand_mwh_per_yr" in rows
            else np.full(n, network_mwh)
        )
        shape = demand_shape(outdoor, p, p.network_loss_share)
        if must_run and "must_run_flat_mwh_per_yr" in rows:
            mr_flat = np.nan_to_num(rows["must_run_flat_mwh_per_yr"].to_numpy(dtype=float))
            mr_solar = np.nan_to_num(rows["must_run_solar_mwh_per_yr"].to_numpy(dtype=float))
    else:
        served = rows["connected_demand_mwh_per_yr"].to_numpy(dtype=float)
        shape = demand_shape(outdoor, p)
    # demand in heat-pump terms (before the route's losses)
    scale = served / np.maximum(keep, 1e-9)
    mr_mwh = np.zeros(n)
    if (mr_flat > 0).any() or (mr_solar > 0).any():
        # one residual row per network (served, must-run), then per site over its keep
        key = np.column_stack([served, mr_flat, mr_solar])
        uniq, group = np.unique(key, axis=0, return_inverse=True)
        residual = np.empty((len(uniq), len(outdoor)))
        for g, (mwh, flat, solar) in enumerate(uniq):
            residual[g], m = network_residual_mw(shape, mwh, flat, solar)
            mr_mwh[group == g] = m.sum()
        demand = residual[group] / np.maximum(keep, 1e-9)[:, None]
        share = np.full(n, p.share_max)
    elif alone:  # the shared row's arithmetic below, with each site's own scale as the top
        demand = shape[None, :] * scale[:, None]
        share = np.clip(p.share_max * scale / np.maximum(scale, 1e-12), 1e-12, 1.0)
    else:
        # one shared hourly row scaled per site through share_max: memory of one row
        top = float(scale.max()) if n else 1.0
        demand = shape * top
        share = np.clip(p.share_max * scale / max(top, 1e-12), 1e-12, 1.0)
    res = recover_hourly(rows, p, outdoor, demand, share, series, return_hourly)
    return HourlyRun(res, keep, served, mr_mwh, _summer_min(demand, share, weather))


def recover_hourly(
    rows: pd.DataFrame,
    p: Params,
    outdoor: np.ndarray,
    demand_mw: np.ndarray,
    share: np.ndarray | float,
    series: HourlySeries | None = None,
    return_hourly: bool = False,
):
    """The hourly model of the sites in `rows` against a given hourly demand.

    `demand_mw` is what each site may deliver in heat-pump terms (before its route's
    losses): one row shared by all sites, or one row per site; `share` scales it per site
    (share_max). The heat pump, temperatures, availability, part load, storage and prices
    come from `rows` and `p` as in :func:`run_hourly`, which calls this with the demand its
    network leaves after must-run supply; :mod:`siting.portfolios` calls it with the demand
    the sites chosen before leave. Returns :class:`siting.hourly.HourlyResult`.
    """
    series = series or HourlySeries()
    n = len(rows)
    supply = (
        supply_temperature_curve(
            outdoor, p.supply_cold_c, p.outdoor_cold_c, p.supply_warm_c, p.outdoor_warm_c
        )
        if p.supply_curve
        else np.full(outdoor.shape, p.supply_temp_c)
    )
    cooling = rows["cooling"].to_numpy()
    cap = rows["heat_pump_mw"].to_numpy(dtype=float)
    if p.heat_pump_max_mw > 0:
        cap = np.minimum(cap, p.heat_pump_max_mw)
    src_in = np.array([p.source_in_c[c] for c in cooling])
    src_out = np.array([p.source_out_c[c] for c in cooling])
    if series.source_in_c is not None:  # a measured inlet; each cooling type keeps its drop
        drop = src_in - src_out
        src_in = np.broadcast_to(series.source_in_c, (n, len(outdoor)))
        src_out = src_in - drop[:, None]
    return hourly_recovery(
        rows["it_load_mw"].to_numpy(dtype=float),
        outdoor,
        demand_mw,
        capture_fraction=np.array([p.capture_fraction[c] for c in cooling]),
        utilisation_it=p.utilisation_it if series.it_load_share is None else series.it_load_share,
        source_in_c=src_in,
        source_out_c=src_out,
        supply_c=supply,
        return_c=p.return_temp_c,
        eta=p.eta_lorenz,
        cop_model=p.cop_model,
        eta_practical=p.eta_practical,
        pinch_k=p.pinch_k,
        approach_k=p.approach_k,
        cop_max=p.cop_max,
        heat_pump_max_mw=cap,
        share_max=share,
        storage_mwh=p.storage_mwh,
        pue=p.pue,
        availability=p.hp_availability,
        maintenance_weeks=p.maintenance_weeks,
        maintenance_start_week=p.maintenance_start_week,
        units=unit_count(cap, p.max_unit_mw),
        min_part_load=p.min_part_load,
        electricity_price_eur_per_mwh=series.electricity_price_eur_per_mwh,
        return_hourly=return_hourly,
    )


@dataclass
class HourlyRun:
    """`run_hourly`'s output, per site.

    Attributes
    ----------
    result : the heat-pump side (:class:`siting.hourly.HourlyResult`).
    keep : the route's transfer efficiency to the network.
    served : the annual demand each site serves (MWh/yr fed in).
    must_run_mwh : heat the network's must-run producers supplied first (MWh/yr).
    summer_min_mw : the least the site may deliver in an hour of June-August (heat-pump
        terms): the network's demand left by must-run supply, times share_max.
    """

    result: Any
    keep: np.ndarray
    served: np.ndarray
    must_run_mwh: np.ndarray
    summer_min_mw: np.ndarray


def _summer_min(demand: np.ndarray, share: np.ndarray, weather: pd.Series) -> np.ndarray:
    months = np.asarray(getattr(weather.index, "month", np.zeros(len(weather))))
    summer = np.isin(months, (6, 7, 8))
    cols = summer if summer.any() else np.ones(len(weather), dtype=bool)
    if demand.ndim == 1:  # one shared row, scaled per site by share
        return float(demand[cols].min()) * share
    return demand[:, cols].min(axis=1) * share


def yearly_operation(
    table: pd.DataFrame,
    p: Params,
    weather: pd.Series,
    network_mwh: float,
    mode: str,
    series: HourlySeries | None = None,
) -> pd.DataFrame:
    """Heat the network takes over the year, electricity, reuse and waste per site.

    "annual": the docs/model.md §3 shortcut, E = Q_delivered × 8760 × u (as routed above).
    "hourly": hour by hour against the weather-driven demand of what each site serves (the
    existing network, or its own local network's buildings), limited by the heat pump and
    `share_max`; the heat leaving the heat pump passes the route's transfer efficiency.
    """
    t = table.copy()
    feas = t["feasible"].to_numpy(dtype=bool)
    cop = t["cop_system"].to_numpy()
    hp_del = t["heat_pump_delivered_mwh_per_yr"].to_numpy()
    if p.recovery_model == "annual" or not feas.any():
        with np.errstate(divide="ignore", invalid="ignore"):
            t["heat_pump_electricity_mwh_per_yr"] = np.where(np.isinf(cop), 0.0, hp_del / cop)
            avail = t["available_heat_mwh_per_yr"].to_numpy()
            share_used = np.where(avail > 0, hp_del / avail, 0.0)
            t["full_load_hours"] = np.where(feas, hp_del / t["heat_pump_mw"], 0.0)
        t["reused_heat_mwh_per_yr"] = t["recovered_heat_mwh_per_yr"] * share_used
        t["storage_gain_mwh_per_yr"] = 0.0
        t["recovery_model"] = "annual"
        return t
    ok = np.flatnonzero(feas)
    run = run_hourly(t.iloc[ok], p, weather, network_mwh, mode, series=series)
    res, keep, served = run.result, run.keep, run.served

    def put(col: str, values: np.ndarray, fill: float = 0.0) -> None:
        out = np.full(len(t), fill, dtype=float)
        out[ok] = values
        t[col] = out

    produced = np.asarray(res.delivered_heat_mwh_per_yr, dtype=float)
    put("heat_pump_delivered_mwh_per_yr", produced)
    put("delivered_heat_mwh_per_yr", produced * keep)
    put("network_loss_mwh_per_yr", produced * (1 - keep))
    put("available_heat_mwh_per_yr", np.asarray(res.available_heat_mwh_per_yr, dtype=float))
    put("heat_pump_electricity_mwh_per_yr", np.asarray(res.electricity_mwh_per_yr, dtype=float))
    put("reused_heat_mwh_per_yr", np.asarray(res.reused_heat_mwh_per_yr, dtype=float))
    put("utilisation", np.minimum(np.asarray(res.utilisation, dtype=float), 1.0))  # rounding
    put("full_load_hours", np.asarray(res.full_load_hours, dtype=float))
    put("storage_gain_mwh_per_yr", np.asarray(res.storage_gain_mwh_per_yr, dtype=float))
    put("served_demand_mwh_per_yr", served)
    # consumption-weighted energy price where an hourly price series is given (else NaN)
    put(
        "electricity_price_weighted_eur_per_mwh",
        np.asarray(res.electricity_price_weighted_eur_per_mwh, dtype=float),
        np.nan,
    )
    put("exchanger_heat_mwh_per_yr", np.asarray(res.exchanger_heat_mwh_per_yr, dtype=float))
    if mode == "existing_network":
        put("must_run_mwh_per_yr", run.must_run_mwh)
        displaced = np.zeros(len(ok))
        if (run.must_run_mwh > 0).any():  # what the site would deliver without them
            alone = run_hourly(
                t.iloc[ok], p, weather, network_mwh, mode, must_run=False, series=series
            )
            displaced = (
                np.maximum(
                    np.asarray(alone.result.delivered_heat_mwh_per_yr, dtype=float) - produced, 0.0
                )
                * keep
            )
        put("displaced_by_must_run_mwh_per_yr", displaced)
        # what the tap can take: the network's least hourly demand in summer (after must-run)
        put("summer_min_absorption_mw", run.summer_min_mw, np.nan)
        cap = t["heat_pump_mw"].to_numpy(dtype=float)
        over = np.zeros(len(t), dtype=bool)
        over[ok] = cap[ok] > run.summer_min_mw * (1 + 1e-9)
        t["absorption_note"] = np.where(
            over,
            "heat pump "
            + np.char.mod("%.1f", cap)
            + " MW exceeds the "
            + np.char.mod("%.1f", np.nan_to_num(t["summer_min_absorption_mw"].to_numpy()))
            + " MW the network takes in its lowest summer hour (after must-run): curtailed then",
            "",
        )
    t["recovery_model"] = "hourly"
    delivered = t["delivered_heat_mwh_per_yr"].to_numpy()
    if mode == "existing_network":
        t["homes_served"] = homes_served(delivered, p)
    else:
        demand = t["connected_demand_mwh_per_yr"].to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            met = np.where(demand > 0, np.minimum(delivered / demand, 1.0), 0.0)
        dwellings = np.nan_to_num(t["dwellings_connected"].to_numpy())
        t["homes_served"] = np.where(feas, np.floor(dwellings * met), 0).astype(int)
    return t
