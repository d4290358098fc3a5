"""Stage `operate`: each routed site over a year, hour by hour (or the annual shortcut):
heat the network takes, electricity, heat reused and wasted (numpy only)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from siting.config import Params
from siting.hourly import hourly_recovery, network_demand_profile, supply_temperature_curve
from siting.stages.networks import Networks


@dataclass
class Operated:
    """`operate`'s output: the site table with the year's operation columns."""

    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def operate(table: pd.DataFrame, p: Params, weather: pd.Series, networks: Networks) -> Operated:
    """The year's operation of every feasible site (see :func:`yearly_operation`)."""
    return Operated(yearly_operation(table, p, weather, networks.annual_demand_mwh, networks.mode))


def run_hourly(
    rows: pd.DataFrame,
    p: Params,
    weather: pd.Series,
    network_mwh: float,
    mode: str,
    return_hourly: bool = False,
):
    """The hourly model for the routed, feasible sites in `rows` (columns of the ranking).

    Returns the :class:`siting.hourly.HourlyResult` (heat-pump side), each site's transfer
    efficiency to the network and the annual demand it serves.
    """
    outdoor = weather.to_numpy(dtype=float)
    shape = network_demand_profile(outdoor, 1.0, p.dhw_share, p.heating_base_c)  # MW per MWh/yr
    keep = rows["transfer_efficiency"].to_numpy(dtype=float)
    served = (
        np.full(len(rows), network_mwh)
        if mode == "existing_network"
        else rows["connected_demand_mwh_per_yr"].to_numpy(dtype=float)
    )
    # demand in heat-pump terms (before the route's losses); one shared hourly row scaled per
    # site through share_max keeps memory at one row, not sites x hours
    scale = served / np.maximum(keep, 1e-9)
    top = float(scale.max()) if len(scale) else 1.0
    share = np.clip(p.share_max * scale / max(top, 1e-12), 1e-12, 1.0)
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
    res = hourly_recovery(
        rows["it_load_mw"].to_numpy(dtype=float),
        outdoor,
        shape * top,
        capture_fraction=np.array([p.capture_fraction[c] for c in cooling]),
        utilisation_it=p.utilisation_it,
        source_in_c=np.array([p.source_in_c[c] for c in cooling]),
        source_out_c=np.array([p.source_out_c[c] for c in cooling]),
        supply_c=supply,
        return_c=p.return_temp_c,
        eta=p.eta_lorenz,
        cop_model=p.cop_model,
        heat_pump_max_mw=cap,
        share_max=share,
        storage_mwh=p.storage_mwh,
        pue=p.pue,
        return_hourly=return_hourly,
    )
    return res, keep, served


def yearly_operation(
    table: pd.DataFrame, p: Params, weather: pd.Series, network_mwh: float, mode: str
) -> pd.DataFrame:
    """Heat the network takes over the year, electricity, reuse and waste per site.

    "annual": the MODEL.md §3 shortcut, E = Q_delivered × 8760 × u (as routed above).
    "hourly": hour by hour against the weather-driven demand of what each site serves (the
    existing network, or its own local network's buildings), limited by the heat pump and
    `share_max`; the heat leaving the heat pump passes the route's transfer efficiency.
    """
    t = table.copy()
    feas = t["feasible"].to_numpy(dtype=bool)
    cop = t["cop"].to_numpy()
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
    res, keep, served = run_hourly(t.iloc[ok], p, weather, network_mwh, mode)

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
    put("utilisation", np.asarray(res.utilisation, dtype=float))
    put("full_load_hours", np.asarray(res.full_load_hours, dtype=float))
    put("storage_gain_mwh_per_yr", np.asarray(res.storage_gain_mwh_per_yr, dtype=float))
    put("served_demand_mwh_per_yr", served)
    t["recovery_model"] = "hourly"
    delivered = t["delivered_heat_mwh_per_yr"].to_numpy()
    if mode == "existing_network":
        t["homes_served"] = np.floor(delivered / p.mwh_per_home).astype(int)
    else:
        demand = t["connected_demand_mwh_per_yr"].to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            met = np.where(demand > 0, np.minimum(delivered / demand, 1.0), 0.0)
        dwellings = np.nan_to_num(t["dwellings_connected"].to_numpy())
        t["homes_served"] = np.where(feas, np.floor(dwellings * met), 0).astype(int)
    return t
