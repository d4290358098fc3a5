"""Hourly heat recovery over a year: weather, network demand and heat-pump limits per site.

The hourly counterpart of :func:`siting.recovery.annual_recovery` (docs/model.md s1-3, s8.1). Where
the annual model multiplies by a fixed utilisation ``u``, here the network's hourly demand decides
how much of the data center's heat it takes:

``delivered(t) = min(Q_deliverable(t), P_HP_max * availability(t),
share_max * max(0, D_network(t) - must_run(t)))``, zero below the heat pump's minimum load,

with the plant's COP evaluated every hour at that hour's source and supply temperatures.
Everything is numpy, vectorised over sites x hours (2-D arrays, processed in chunks of sites so
memory stays bounded). Powers are MW, energies MWh, temperatures degC (``_c``); one row of an
hourly array is one site, one column one hour.

Shapes: *per-site* inputs are scalars or 1-D arrays of length ``n_sites``; *hourly* inputs are
scalars, 1-D arrays of length ``n_hours`` (one profile shared by all sites), ``(n_sites, 1)``
(constant per site) or ``(n_sites, n_hours)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from siting.errors import ConfigError
from siting.recovery import (
    APPROACH_K,
    COP_MAX,
    ETA_LORENZ,
    ETA_PRACTICAL,
    PINCH_K,
    PUE,
    Record,
    carnot_cop,
    enefg_flags,
    heat_pump_operation,
    jesper_cop,
    lorenz_cop,
)

__all__ = [
    "COP_MODELS",
    "DHW_SHARE",
    "HEATING_BASE_C",
    "HP_AVAILABILITY",
    "MAINTENANCE_START_WEEK",
    "MAINTENANCE_WEEKS",
    "MAX_UNIT_MW",
    "MIN_PART_LOAD",
    "HourlyResult",
    "heat_pump_availability_profile",
    "hourly_recovery",
    "load_duration_curve",
    "monthly_totals",
    "network_demand_profile",
    "plot_load_duration",
    "supply_temperature_curve",
    "unit_count",
]

DHW_SHARE = 0.2  # [M] flat domestic-hot-water share of annual network demand, docs/model.md s3
HEATING_BASE_C = 17.0  # [M] base temperature of heating degree-hours, docs/model.md s3
# Weather-compensation curve, docs/model.md s3: 80 degC at -12 degC falling linearly to 70 at
# 15 degC.
SUPPLY_COLD_C = 80.0
OUTDOOR_COLD_C = -12.0
SUPPLY_WARM_C = 70.0
OUTDOOR_WARM_C = 15.0
# Heat-pump operation, docs/model.md s8.1 ([M]: engineering defaults with a range, not facts).
HP_AVAILABILITY = 0.95  # [M] share of capacity-hours available, 0.90-0.98
MAINTENANCE_WEEKS = 4.0  # [M] planned maintenance block in the low-demand summer, 2-6 weeks
MAINTENANCE_START_WEEK = 28.0  # [M] 8 July: the block covers July-early August
MIN_PART_LOAD = 0.25  # [M] lowest stable load of one unit, share of its capacity, 0.1-0.4
MAX_UNIT_MW = 5.0  # [M] largest unit; Odense: nine units for up to 25 MW of heat [V S2]
HOURS_PER_WEEK = 168
# Elements of one (sites x hours) working array per chunk: ~2 MB in float64, so the handful of
# temporaries a chunk needs stays in the CPU's L2/L3 cache instead of streaming through RAM.
_CHUNK_ELEMENTS = 1 << 18


def _out(x: Any) -> Any:
    """Python scalar for 0-d results (scalar site inputs give plain floats/bools)."""
    x = np.asarray(x)
    return x.item() if x.ndim == 0 else x


def _hours_1d(name: str, outdoor_c: ArrayLike) -> NDArray[np.float64]:
    t = np.asarray(outdoor_c, dtype=float)
    if t.ndim != 1 or t.size == 0:
        raise ConfigError(
            f"{name} must be a 1-D series of hourly outdoor temperatures (degC), got shape "
            f"{t.shape}. Use read_weather() or typical_danish_year()."
        )
    if not np.all(np.isfinite(t)):
        i = int(np.flatnonzero(~np.isfinite(t))[0])
        raise ConfigError(f"{name} has a non-finite value at hour {i}; fill the gap first.")
    return t


# --- network demand and temperatures -------------------------------------------------------------


def network_demand_profile(
    outdoor_c: ArrayLike,
    annual_mwh: ArrayLike,
    dhw_share: float = DHW_SHARE,
    base_c: float = HEATING_BASE_C,
    *,
    dtype: type = np.float64,
) -> NDArray[Any]:
    """Hourly district-heating demand [MW] of one or many networks (docs/model.md s3).

    Space heating is proportional to heating degree-hours ``max(0, base_c - T(t))``; domestic
    hot water is a flat ``dhw_share`` of the annual demand. Each row sums to its ``annual_mwh``
    (one hour at 1 MW is 1 MWh).

    Parameters
    ----------
    outdoor_c : array, shape (n_hours,)
        Outdoor temperature [degC], e.g. from :func:`siting.sources.weather.read_weather`.
    annual_mwh : float or array, shape (n_sites,)
        Annual heat demand of the network each site feeds [MWh/yr], >= 0.
    dhw_share : float, default 0.2
        Share of annual demand that is hot water (no weather dependence), in [0, 1].
    base_c : float, default 17.0
        Base temperature of the degree-hours [degC].
    dtype : numpy dtype, default float64
        float32 halves the memory of a many-site profile.

    Returns
    -------
    ndarray
        Shape (n_hours,) for scalar ``annual_mwh``, (n_sites, n_hours) for an array.
    """
    t = _hours_1d("outdoor_c", outdoor_c)
    if not 0.0 <= dhw_share <= 1.0:
        raise ConfigError(f"dhw_share={dhw_share!r} must lie in [0, 1]; the default is 0.2.")
    annual = np.asarray(annual_mwh, dtype=float)
    if annual.ndim > 1 or not np.all(np.isfinite(annual) & (annual >= 0)):
        raise ConfigError(
            "annual_mwh must be a finite number >= 0 or a 1-D array of them (MWh/yr per network)."
        )
    degree_hours = np.clip(base_c - t, 0.0, None)
    total = degree_hours.sum()
    if total <= 0 and dhw_share < 1.0:
        raise ConfigError(
            f"the weather never drops below base_c={base_c} degC, so there is no space heating "
            "to spread over the year. Check the weather is in degC, or set dhw_share=1."
        )
    shape = dhw_share / t.size + (
        (1.0 - dhw_share) * degree_hours / total if total > 0 else 0.0 * t
    )
    return (annual[..., None] * shape).astype(dtype, copy=False)


def supply_temperature_curve(
    outdoor_c: ArrayLike,
    t_supply_cold_c: float = SUPPLY_COLD_C,
    t_outdoor_cold_c: float = OUTDOOR_COLD_C,
    t_supply_warm_c: float = SUPPLY_WARM_C,
    t_outdoor_warm_c: float = OUTDOOR_WARM_C,
) -> NDArray[np.float64]:
    """Network supply temperature [degC] from a weather-compensation curve (docs/model.md s3).

    Linear between (``t_outdoor_cold_c``, ``t_supply_cold_c``) and (``t_outdoor_warm_c``,
    ``t_supply_warm_c``), held constant outside. The return temperature is a constant parameter
    of :func:`hourly_recovery`, not part of this curve.
    """
    if not t_outdoor_cold_c < t_outdoor_warm_c:
        raise ConfigError(
            f"t_outdoor_cold_c ({t_outdoor_cold_c}) must be below t_outdoor_warm_c "
            f"({t_outdoor_warm_c}); the defaults are -12 and 15 degC."
        )
    t = np.asarray(outdoor_c, dtype=float)
    return np.interp(t, [t_outdoor_cold_c, t_outdoor_warm_c], [t_supply_cold_c, t_supply_warm_c])


# --- input shaping -------------------------------------------------------------------------------


def _per_site(
    name: str, value: ArrayLike, n_sites: int, lo: float, hi: float, lo_open: bool, fix: str
) -> NDArray[np.float64]:
    """Broadcast a scalar or (n_sites,) value to (n_sites,), checking lo </<= v <= hi."""
    v = np.asarray(value, dtype=float)
    if v.ndim > 1 or (v.ndim == 1 and v.size not in (1, n_sites)):
        raise ConfigError(
            f"{name} has shape {v.shape}; give one value or one per site ({n_sites})."
        )
    v = np.broadcast_to(v.reshape(-1) if v.ndim else v, (n_sites,))
    ok = np.isfinite(v) & (v <= hi) & ((v > lo) if lo_open else (v >= lo))
    if not np.all(ok):
        bad = v[~ok][0].item()
        bracket = "(" if lo_open else "["
        raise ConfigError(f"{name}={bad!r} is out of range {bracket}{lo}, {hi}]. {fix}")
    return v


def _hourly(name: str, value: ArrayLike, n_sites: int, n_hours: int) -> NDArray[np.float64]:
    """Shape a scalar / hourly profile / per-site / (sites, hours) input as a 2-D broadcastable."""
    v = np.asarray(value, dtype=float)
    if v.ndim == 0:
        return v.reshape(1, 1)
    if v.ndim == 1:
        if v.size == n_hours and n_sites != n_hours:
            return v.reshape(1, n_hours)
        if v.size == n_sites and n_sites != n_hours:
            return v.reshape(n_sites, 1)
        if v.size == n_hours:  # n_sites == n_hours: ambiguous
            raise ConfigError(
                f"{name} is 1-D of length {v.size}, which is both the number of sites and of "
                "hours; reshape it to (1, n_hours) for an hourly profile or (n_sites, 1) for "
                "one value per site."
            )
    if v.ndim == 2 and v.shape[0] in (1, n_sites) and v.shape[1] in (1, n_hours):
        return v
    raise ConfigError(
        f"{name} has shape {v.shape}; give a scalar, an hourly profile ({n_hours},), one value "
        f"per site ({n_sites}, 1), or ({n_sites}, {n_hours})."
    )


def _rows(a: NDArray[Any], sl: slice) -> NDArray[Any]:
    """Rows `sl` of a 2-D array whose first axis is sites or broadcast (length 1)."""
    return a if a.shape[0] == 1 else a[sl]


# --- result --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HourlyResult(Record):
    """Annual totals of the hourly model, per site (floats for a scalar site input).

    Energies are sums over the hours given (MWh per year when the weather is one year).
    ``hourly`` holds (n_sites, n_hours) arrays when requested (``return_hourly=True``):
    ``available_mw`` (heat-pump output if the network took everything), ``produced_mw``
    (heat-pump output), ``delivered_mw`` (into the network, after the storage tank),
    ``electricity_mw``, ``source_used_mw`` (data-center heat used), ``exchanger_mw`` (the part
    of ``produced_mw`` made by the direct/preheat exchanger) and ``cop`` (of the combination).
    """

    hours: int
    recovered_heat_mwh_per_yr: Any  # Q_src summed: DC heat captured into water
    available_heat_mwh_per_yr: Any  # deliverable heat if the network took all of it
    delivered_heat_mwh_per_yr: Any  # heat into the network
    reused_heat_mwh_per_yr: Any  # DC heat used (ERF numerator): delivered - electricity
    wasted_heat_mwh_per_yr: Any  # recovered - reused: captured but rejected to air
    electricity_mwh_per_yr: Any  # heat-pump electricity
    dc_energy_mwh_per_yr: Any  # P_IT * utilisation_it * PUE summed (ERF denominator)
    utilisation: Any  # delivered / available (docs/model.md s3 "u")
    heat_pump_max_mw: Any  # heat-pump output cap used (sized to peak deliverable by default)
    peak_delivered_mw: Any  # highest hourly delivery into the network
    full_load_hours: Any  # delivered / heat_pump_max_mw
    cop_effective: Any  # delivered / electricity (inf: all direct exchange; nan: nothing)
    erf: Any  # energy reuse factor, ISO/IEC 30134-6
    meets_enefg_2026: Any  # erf >= 0.10
    meets_enefg_2027: Any  # erf >= 0.15
    meets_enefg_2028: Any  # erf >= 0.20
    storage_gain_mwh_per_yr: Any  # delivered thanks to the storage tank
    exchanger_heat_mwh_per_yr: Any  # made by the direct-exchange / preheat exchanger
    heat_pump_heat_mwh_per_yr: Any  # made by the heat pump's condenser (produced - exchanger)
    cop_heat_pump: Any  # heat-pump heat / electricity (nan when the heat pump never ran)
    must_run_mwh_per_yr: Any  # must-run producers' heat in the network, min(must_run, demand)
    displaced_by_must_run_mwh_per_yr: Any  # delivered without must-run - delivered with it
    electricity_price_weighted_eur_per_mwh: Any  # sum(W_el * price) / sum(W_el); nan if none
    electricity_cost_eur_per_yr: Any  # sum(W_el * price); nan without a price series
    hourly: dict[str, NDArray[Any]] | None = None

    _not_in_dict = ("hourly",)  # to_dict(): the annual fields


# --- heat-pump availability ----------------------------------------------------------------------


def heat_pump_availability_profile(
    n_hours: int,
    availability: float = HP_AVAILABILITY,
    *,
    maintenance_weeks: float = MAINTENANCE_WEEKS,
    maintenance_start_week: float = MAINTENANCE_START_WEEK,
) -> NDArray[np.float64]:
    """Hourly share of the heat pump's capacity that is available (docs/model.md s8.1).

    The capacity-hours lost, ``(1 - availability) * n_hours``, are taken as planned maintenance
    in one block of ``maintenance_weeks`` weeks starting at week ``maintenance_start_week``
    (week 1 starts at hour 0, i.e. 1 January for a calendar year): during the block the
    capacity is reduced evenly (units serviced in turn), by at most all of it. Whatever does not
    fit in the block (a block shorter than the loss, or one beyond the series) is spread evenly
    over the other hours as a derating. The mean of the profile is always ``availability``.

    Parameters
    ----------
    n_hours : int
        Length of the series (8760 for a year).
    availability : float, default 0.95
        Share of capacity-hours available over the series, in [0, 1]. [M]
    maintenance_weeks : float, default 4
        Length of the maintenance block [weeks], >= 0.
    maintenance_start_week : float, default 28
        Week the block starts (1-based; 28 = 8 July, so the default block is 8 July-4 August).

    Returns
    -------
    ndarray (n_hours,)
        Capacity factor per hour in [0, 1].
    """
    n = int(n_hours)
    if n < 1:
        raise ConfigError(f"n_hours={n_hours!r} must be a positive number of hours.")
    a = float(availability)
    if not 0.0 <= a <= 1.0:
        raise ConfigError(
            f"availability={availability!r} must lie in [0, 1]; the default is "
            f"{HP_AVAILABILITY} (share of the heat pump's capacity-hours available)."
        )
    if not (np.isfinite(maintenance_weeks) and maintenance_weeks >= 0):
        raise ConfigError(
            f"maintenance_weeks={maintenance_weeks!r} must be >= 0 weeks; the default is "
            f"{MAINTENANCE_WEEKS}."
        )
    if not (np.isfinite(maintenance_start_week) and maintenance_start_week >= 1):
        raise ConfigError(
            f"maintenance_start_week={maintenance_start_week!r} must be >= 1 (week 1 starts at "
            f"the first hour); the default is {MAINTENANCE_START_WEEK} (early July)."
        )
    profile = np.ones(n)
    lost = (1.0 - a) * n  # capacity-hours
    if lost <= 0:
        return profile
    start = int(round((maintenance_start_week - 1) * HOURS_PER_WEEK))
    stop = int(round((maintenance_start_week - 1 + maintenance_weeks) * HOURS_PER_WEEK))
    block = np.zeros(n, dtype=bool)
    block[min(start, n) : min(stop, n)] = True
    n_block = int(block.sum())
    in_block = min(lost, float(n_block))
    if n_block:
        profile[block] = 1.0 - in_block / n_block
    rest = lost - in_block
    if rest > 0:
        # n - n_block > 0 here: a block covering every hour takes all of lost <= n
        profile[~block] = 1.0 - rest / (n - n_block)
    return profile


def unit_count(heat_pump_mw: ArrayLike, max_unit_mw: float = MAX_UNIT_MW) -> Any:
    """Number of equal heat-pump units: ``ceil(heat_pump_mw / max_unit_mw)``, at least 1.

    Large heat pumps are built from several units (Odense: nine ammonia units for up to 25 MW
    of heat [V S2], about 2.8 MW each); ``max_unit_mw`` 5 MW is a default [M].
    """
    size = np.asarray(heat_pump_mw, dtype=float)
    if not np.all(np.isfinite(size) & (size >= 0)):
        raise ConfigError("heat_pump_mw must be finite and >= 0 (MW of heat output).")
    if not (np.isfinite(max_unit_mw) and max_unit_mw > 0):
        raise ConfigError(f"max_unit_mw={max_unit_mw!r} must be > 0 MW; the default is 5.")
    return _out(np.maximum(np.ceil(size / max_unit_mw), 1).astype(int))


# --- the model -----------------------------------------------------------------------------------

COP_MODELS = ("lorenz", "jesper", "practical")


@dataclass
class _Tables:
    """Per-(site group, hour) factors of the heat-recovery plant, shared by a chunk of sites."""

    cop: NDArray[Any]  # of the combination, inf for direct exchange
    gain: NDArray[Any]  # heat made per unit of source heat, COP / (COP - 1)
    el: NDArray[Any]  # electricity per unit of heat made, 1 / COP
    share: NDArray[Any] | None  # exchanger share of heat made; None: never any exchanger
    nondirect: NDArray[np.bool_] | None  # hours with a heat pump running; None: all of them
    capfac: NDArray[Any] | None  # available share of capacity (1 in direct hours); None: all 1
    elp: NDArray[Any] | None  # el * electricity price, when the price is shared by all sites

    def rows(self, k: int) -> _Tables:
        """Row ``k`` of every table (as (1, hours) views)."""

        def r(x: NDArray[Any] | None) -> NDArray[Any] | None:
            return None if x is None else x[k : k + 1]

        return _Tables(
            r(self.cop),  # type: ignore[arg-type]
            r(self.gain),  # type: ignore[arg-type]
            r(self.el),  # type: ignore[arg-type]
            r(self.share),
            r(self.nondirect),
            r(self.capfac),
            r(self.elp),
        )


def _cop_table(
    cop_model: str,
    src_in: NDArray[np.float64],
    src_out: NDArray[np.float64],
    ret: NDArray[np.float64],
    sup: NDArray[np.float64],
    eta: NDArray[np.float64],
    practical: dict[str, float],
) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
    """COP of the plant and the exchanger's share of its heat (None when no exchanger), for
    rows of per-site temperatures (k, 1) against hourly ones (1 or k, hours)."""
    if cop_model == "practical":
        op = heat_pump_operation(
            src_in,
            src_out,
            ret,
            sup,
            approach_k=practical["approach_k"],
            eta=practical["eta"],
            pinch_k=practical["pinch_k"],
            cop_max=practical["cop_max"],
        )
        cop = np.asarray(op.cop, dtype=float)
        share = np.asarray(op.preheat_share, dtype=float)
        return cop, (share if np.any(share > 0) else None)
    if cop_model == "lorenz":
        cop = np.asarray(lorenz_cop(src_in, src_out, ret, sup, eta), dtype=float)
    else:
        # Jesper regression, capped by the Carnot COP at the log-mean temperatures
        # (docs/model.md s2).
        cop = np.minimum(
            np.asarray(jesper_cop(src_in, sup), dtype=float),
            np.asarray(carnot_cop(src_in, src_out, ret, sup), dtype=float),
        )
    direct = np.isinf(cop)
    return cop, (direct.astype(float) if np.any(direct) else None)


def _check_cop(cop: NDArray[np.float64], cop_model: str) -> None:
    if not np.all(cop > 1):
        raise ConfigError(
            f"the {cop_model} heat-pump COP drops to {float(np.min(cop)):.3g} (<= 1) in some "
            "hours: the temperature lift is too large for a heat pump. Lower the supply "
            "temperature or use a hotter source (liquid cooling)."
        )


def _gain_tables(cop: NDArray[np.float64], dtype: type) -> tuple[NDArray[Any], NDArray[Any]]:
    """Heat delivered per unit of source heat, COP/(COP-1), and electricity per unit of heat,
    1/COP. Direct exchange (COP = inf) gives 1 and 0 without the inf/inf of the formula."""
    direct = np.isinf(cop)
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = np.where(direct, 1.0, cop / (cop - 1.0)).astype(dtype)
        el_per_heat = np.where(direct, 0.0, 1.0 / cop).astype(dtype)
    return gain, el_per_heat


def _tables(
    cop_model: str,
    temps: tuple[NDArray[Any], ...],
    practical: dict[str, float],
    capfac_row: NDArray[Any] | None,
    price_row: NDArray[Any] | None,
    shape: tuple[int, int],
    dtype: type,
) -> _Tables:
    """All per-hour factors for site rows (broadcast to ``shape``)."""
    cop, share = _cop_table(cop_model, *temps, practical)
    cop = np.broadcast_to(cop, shape)
    _check_cop(cop, cop_model)
    gain, el = _gain_tables(cop, dtype)
    direct = np.isinf(cop)
    any_direct = bool(direct.any())
    capfac = None
    if capfac_row is not None:  # no heat pump in direct hours: nothing to maintain
        capfac = np.where(direct, 1.0, capfac_row).astype(dtype)
    elp = None if price_row is None else (el * price_row.astype(dtype)).astype(dtype)
    return _Tables(
        cop=cop,
        gain=gain,
        el=el,
        share=None if share is None else np.broadcast_to(share, shape).astype(dtype),
        nondirect=~direct if any_direct else None,
        capfac=capfac,
        elp=elp,
    )


def _gate(delivered: NDArray[Any], thr: NDArray[Any]) -> None:
    """Set to 0, in place, the hours where ``delivered`` is below the minimum load ``thr``
    (m, 1 or hours); rows that never drop below it are skipped after one cheap min pass."""
    low = np.flatnonzero(delivered.min(axis=1) < thr.max(axis=1))
    if low.size == delivered.shape[0]:
        delivered *= delivered >= thr
    elif low.size:
        sub = delivered[low]
        sub *= sub >= thr[low]
        delivered[low] = sub


def _row_sums(x: NDArray[Any], m: int, n_hours: int) -> NDArray[np.float64]:
    """Sums over the hours of an hourly input with rows 1 or m and columns 1 or n_hours."""
    sums = x.sum(axis=1, dtype=float) * (n_hours if x.shape[1] == 1 else 1)
    return np.broadcast_to(sums, (m,))


def _dot_rows(x: NDArray[Any], w: NDArray[Any]) -> NDArray[np.float64]:
    """Row sums of ``x * w`` for x (m, hours) and w (1 or m, hours), in float64."""
    if w.shape[0] == 1:  # one hourly row for the chunk: a BLAS matrix-vector product
        return np.asarray(x @ w[0], dtype=float)
    return np.einsum("ij,ij->i", x, w).astype(float)


def _day_any(flag: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """``flag.any(axis=2)`` for a contiguous (rows, days, 24) bool array, 8 hours per uint64
    word: several times faster than a reduction along a 24-long axis."""
    words = np.ascontiguousarray(flag).view(np.uint64)  # (rows, days, 3)
    return (words[:, :, 0] | words[:, :, 1] | words[:, :, 2]) != 0


def _daily_storage(
    produced: NDArray[Any], limit: NDArray[Any], capacity: NDArray[Any]
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[Any], NDArray[Any]]:
    """Charge and discharge of a daily-cycle tank, for the days where it does something.

    Parameters
    ----------
    produced, limit : array (rows, days, 24)
        Heat the heat pump can make and heat the network may take, per hour [MW].
    capacity : array (rows,)
        Tank size [MWh]; rows with 0 are skipped.

    Surplus hours (``produced > limit``) charge the tank greedily up to ``capacity``; deficit
    hours (``limit > produced``) discharge it. The tank starts each day empty. Heat still in the
    tank at the end of the day would never reach the network, so those charges are not made: a
    reverse running minimum of the level finds the part of each charge that is never used and
    removes it. Only days with both a surplus and a deficit hour can use the tank (in a Danish
    year mostly spring and autumn days), so the sequential part runs on that subset only.

    Returns
    -------
    row, day : int arrays (K,)
        The active (row, day) pairs.
    charge, discharge : arrays (K, 24)
        MW per hour of those days; each day's charge sums to its discharge.
    """
    active = _day_any(produced > limit) & _day_any(produced < limit) & (capacity > 0)[:, None]
    row, day = np.nonzero(active)
    gap_k = (produced[row, day] - limit[row, day]).T  # (24, K): + surplus, - deficit
    s_k = np.maximum(gap_k, 0.0)
    d_k = np.maximum(-gap_k, 0.0)
    cap_k = capacity[row].astype(produced.dtype)
    level = np.zeros(row.size, dtype=produced.dtype)
    c_k = np.empty_like(s_k)
    x_k = np.empty_like(s_k)
    levels = np.empty_like(s_k)
    for h in range(24):  # sequential within the day, as a tank is; vectorised over days
        np.minimum(s_k[h], cap_k - level, out=c_k[h])
        level += c_k[h]
        np.minimum(d_k[h], level, out=x_k[h])
        level -= x_k[h]
        levels[h] = level
    # Heat held from hour t to the end of the day = min of the level over [t, end of day];
    # its increase at t is the part of the charge at t that never leaves the tank.
    unused = np.minimum.accumulate(levels[::-1], axis=0)[::-1]
    c_k[0] -= unused[0]
    c_k[1:] -= unused[1:] - unused[:-1]
    np.maximum(c_k, 0.0, out=c_k)  # round-off only
    return row, day, c_k.T, x_k.T


def _daily_storage_split(
    prod: NDArray[Any], limit: NDArray[Any], store_k: NDArray[Any], n_hours: int
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[Any], NDArray[Any]] | None:
    """Run :func:`_daily_storage` over the whole days of a chunk; None without any tank."""
    m = prod.shape[0]
    n_days = n_hours // 24  # a trailing partial day gets no tank
    if not (n_days and np.any(store_k > 0)):
        return None
    span = n_days * 24
    row, day, charge, discharge = _daily_storage(
        prod[:, :span].reshape(m, n_days, 24),
        np.broadcast_to(limit, (m, n_hours))[:, :span].reshape(m, n_days, 24),
        store_k,
    )
    hour = day[:, None] * 24 + np.arange(24)
    return row, hour, charge, discharge


def hourly_recovery(
    it_load_mw: ArrayLike,
    outdoor_c: ArrayLike,
    network_demand_mw: ArrayLike,
    *,
    capture_fraction: ArrayLike,
    utilisation_it: ArrayLike,
    source_in_c: ArrayLike,
    source_out_c: ArrayLike,
    supply_c: ArrayLike | None = None,
    return_c: ArrayLike,
    eta: ArrayLike = ETA_LORENZ,
    cop_model: str = "lorenz",
    eta_practical: float = ETA_PRACTICAL,
    pinch_k: float = PINCH_K,
    approach_k: float = APPROACH_K,
    cop_max: float = COP_MAX,
    heat_pump_max_mw: ArrayLike | None = None,
    share_max: ArrayLike = 1.0,
    storage_mwh: ArrayLike = 0.0,
    pue: ArrayLike = PUE,
    availability: ArrayLike = 1.0,
    maintenance_weeks: float = MAINTENANCE_WEEKS,
    maintenance_start_week: float = MAINTENANCE_START_WEEK,
    units: ArrayLike | None = None,
    min_part_load: float = MIN_PART_LOAD,
    must_run_mw: ArrayLike | None = None,
    electricity_price_eur_per_mwh: ArrayLike | None = None,
    return_hourly: bool = False,
    dtype: type = np.float64,
    chunk_sites: int | None = None,
) -> HourlyResult:
    """Heat a data center delivers into a district-heating network, hour by hour (docs/model.md
    s1-3,
    s8.1).

    Hour ``t`` of site ``i``::

        Q_src   = capture_fraction * it_load_mw * utilisation_it(t)
        COP(t)  = of the recovery plant at source_in/out(t), return_c -> supply_c(t), <= Carnot;
                  inf (direct heat exchange, no electricity) where no heat pump is needed
        Q_avail = Q_src * COP / (COP - 1)                 deliverable heat
        cap(t)  = heat_pump_max_mw * availability(t)      (1 in direct-exchange hours)
        produced  = min(Q_avail, cap(t))                  (+ tank charging, if storage)
        limit(t)  = share_max * max(0, network_demand_mw(t) - must_run_mw(t))
        delivered = min(produced, limit(t)), 0 below one unit's minimum part load
                    (+ tank discharging)
        electricity = produced / COP;  source heat used = produced - electricity

    With every new option at its default (``cop_model="lorenz"``, ``availability=1``,
    ``units=None``, no ``must_run_mw``) the results are those of the earlier model exactly.

    Parameters
    ----------
    it_load_mw : float or array (n_sites,)
        IT nameplate power [MW], > 0.
    outdoor_c : array (n_hours,)
        Outdoor temperature [degC]; sets the number of hours and, without ``supply_c``, the
        supply temperature via :func:`supply_temperature_curve`.
    network_demand_mw : hourly input
        Network heat demand [MW], e.g. from :func:`network_demand_profile`; >= 0.
    capture_fraction, return_c, eta, share_max, pue : per-site
        As in :func:`siting.recovery.annual_recovery` / :func:`~siting.recovery.lorenz_cop`.
        ``share_max`` is the largest share of the network's load the site may cover, (0, 1].
        ``eta`` is the textbook Lorenz efficiency, used by ``cop_model="lorenz"`` only.
    utilisation_it : hourly input
        IT load as share of nameplate, [0, 1], > 0 in some hour: a constant or an hourly
        profile (e.g. :func:`siting.sources.series.read_it_load_profile`).
    source_in_c, source_out_c : per-site or hourly input
        Cooling water to / from the recovery plant [degC]; an hourly series (e.g.
        :func:`siting.sources.series.read_source_temperature`) gives the source temperature
        hour by hour (give ``source_out_c`` as the same series minus the design drop).
    supply_c : hourly input, optional
        Network supply temperature [degC]; default the weather-compensation curve.
    cop_model : {"lorenz", "jesper", "practical"}
        "practical" is docs/model.md s8.1 (:func:`siting.recovery.heat_pump_operation`: direct
        exchange, preheat exchanger, pinch-shifted Lorenz COP capped at ``cop_max``); "lorenz"
        the textbook s2 model (inf when the sink mean is at or below the source mean); "jesper"
        the conservative regression (capped at Carnot).
    eta_practical, pinch_k, approach_k, cop_max : float
        Parameters of the practical model (defaults 0.61, 4 K, 3 K, 7.0).
    heat_pump_max_mw : per-site, optional
        Heat-pump output cap [MW]; default each site's peak deliverable heat.
    storage_mwh : per-site, default 0
        Daily-cycle tank [MWh] that moves surplus heat to deficit hours of the same day: it
        starts each 24-hour block (counted from the first hour) empty, charges whenever the heat
        pump could make more than the network takes and discharges when the network wants more
        than the heat pump can make; heat left at the end of the day is not produced at all.
        No losses, no charge/discharge power limit. A trailing partial day gets no tank, and
        tank charging is not held to the minimum part load.
    availability : float or array (n_hours,), default 1.0
        Share of the heat pump's capacity available: a number (spread as planned maintenance
        by :func:`heat_pump_availability_profile`; 0.95 is the docs/model.md s8.1 value) or an
        hourly
        capacity factor in [0, 1]. Direct-exchange hours are not affected.
    maintenance_weeks, maintenance_start_week : float
        The maintenance block for a numeric ``availability`` (defaults 4 weeks from week 28).
    units : per-site int, optional
        Number of equal heat-pump units; with it an hour whose delivery would be below
        ``min_part_load`` of one unit (``heat_pump_max_mw / units``) delivers nothing (except
        by direct exchange). None: no minimum load.
    min_part_load : float, default 0.25
        Minimum load of one unit as share of its capacity, in [0, 1).
    must_run_mw : hourly input, optional
        Heat of must-run producers (waste incineration, surplus heat) in the network [MW], in
        the units of ``network_demand_mw`` (before ``share_max``); it serves the demand first.
    electricity_price_eur_per_mwh : hourly input, optional
        Electricity price the heat pump pays [EUR/MWh] (may be negative); gives the
        consumption-weighted price and the electricity cost of the year.
    return_hourly : bool, default False
        Also return the hourly arrays (``HourlyResult.hourly``); memory n_sites x n_hours x 7.
    dtype : float64 or float32
        Precision of the hourly working arrays. float32 halves the memory of the hourly
        outputs (and lets the caller keep a float32 demand array, half of 8 bytes x sites x
        hours) at ~1e-6 relative change in totals; it is not faster, because the work is
        chunked to stay in the CPU cache. Totals are always float64.
    chunk_sites : int, optional
        Sites per chunk; default keeps a chunk's working array near 2 MB.

    Returns
    -------
    HourlyResult
        Annual totals per site. ``utilisation`` = delivered / available (docs/model.md s3), where
        available is the deliverable heat before the heat-pump cap and availability; ``erf``
        counts the data center's heat actually used (not the heat-pump electricity) over
        ``it_load_mw * utilisation_it * pue`` summed over the hours.
    """
    if cop_model not in COP_MODELS:
        raise ConfigError(
            f"cop_model must be one of {', '.join(map(repr, COP_MODELS))}, got {cop_model!r}."
        )
    if np.dtype(dtype) not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise ConfigError(f"dtype must be float64 or float32, got {dtype!r}.")
    t_out = _hours_1d("outdoor_c", outdoor_c)
    n_hours = t_out.size
    p_it = np.asarray(it_load_mw, dtype=float)
    scalar_site = p_it.ndim == 0
    p_it = np.atleast_1d(p_it)
    if p_it.ndim != 1 or not np.all(np.isfinite(p_it) & (p_it > 0)):
        raise ConfigError(
            "it_load_mw must be a finite number > 0 (MW of IT nameplate) or a 1-D array of them."
        )
    n_sites = p_it.size

    def site(name: str, v: ArrayLike, lo: float, hi: float, lo_open: bool, fix: str) -> Any:
        return _per_site(name, v, n_sites, lo, hi, lo_open, fix)

    def hourly_temp(name: str, v: ArrayLike, example: str) -> NDArray[np.float64]:
        x = _hourly(name, v, n_sites, n_hours)
        ok = np.isfinite(x) & (x > -273.15) & (x <= 200)
        if not np.all(ok):
            bad = x[~ok].ravel()[0].item()
            raise ConfigError(
                f"{name}={bad!r} is out of range (-273.15, 200]. Give degC, {example}."
            )
        return x

    f_cap = site(
        "capture_fraction", capture_fraction, 0, 1, True, "Use 0.95 (air coil) or 0.80 (DLC)."
    )
    s_in = hourly_temp("source_in_c", source_in_c, "e.g. 27")
    s_out = hourly_temp("source_out_c", source_out_c, "e.g. 17")
    ret = site("return_c", return_c, -273.15, 200, True, "Give degC, e.g. 40.")
    eta_a = site("eta", eta, 0, 1, True, f"Use {ETA_LORENZ} (range 0.40-0.55).")
    share = site("share_max", share_max, 0, 1, True, "Use 1.0 for a new local network.")
    store = site("storage_mwh", storage_mwh, 0, np.inf, False, "Use 0 for no tank.")
    pue_a = site("pue", pue, 1, np.inf, False, f"PUE is >= 1 (default {PUE}).")
    if np.any(s_in < s_out):
        raise ConfigError(
            "source_in_c is below source_out_c: the cooling water is cooled by the heat pump, "
            "so source_in_c (e.g. 27) must be >= source_out_c (e.g. 17). Swap the two values."
        )
    practical = dict(eta=eta_practical, pinch_k=pinch_k, approach_k=approach_k, cop_max=cop_max)
    cap_given = heat_pump_max_mw is not None
    if cap_given:
        hp_cap = site(
            "heat_pump_max_mw", heat_pump_max_mw, 0, np.inf, True, "Give the heat-pump MW."
        )
    u_it = _hourly("utilisation_it", utilisation_it, n_sites, n_hours)
    if not (np.all((u_it >= 0) & (u_it <= 1)) and np.all(u_it.max(axis=1) > 0)):
        raise ConfigError(
            "utilisation_it must lie in [0, 1] every hour and be > 0 in some hour (IT load as "
            "share of nameplate); the default is 0.8."
        )
    # Checked chunk by chunk below: a many-site demand array is the largest input by far.
    demand = _hourly("network_demand_mw", network_demand_mw, n_sites, n_hours)
    sup = _hourly(
        "supply_c",
        supply_temperature_curve(t_out) if supply_c is None else supply_c,
        n_sites,
        n_hours,
    )
    if not np.all(np.isfinite(sup)):
        raise ConfigError("supply_c must be finite every hour (degC).")
    sup_min = np.broadcast_to(sup.min(axis=1), (n_sites,))
    if np.any(sup_min < ret):
        i = int(np.flatnonzero(sup_min < ret)[0])
        h = int(np.argmin(sup[min(i, sup.shape[0] - 1)]))
        raise ConfigError(
            f"supply_c is below return_c at site {i}, hour {h} ({sup_min[i]:g} < {ret[i]:g} "
            "degC); the network supply must be at least its return temperature. Check the "
            "supply curve or lower return_c."
        )

    # availability: a capacity factor per hour, shared by all sites (None: always 1)
    avail = np.asarray(availability, dtype=float)
    if avail.ndim == 0:
        capfac_row = (
            heat_pump_availability_profile(
                n_hours,
                float(avail),
                maintenance_weeks=maintenance_weeks,
                maintenance_start_week=maintenance_start_week,
            )
            if avail != 1.0
            else None
        )
    elif avail.shape == (n_hours,):
        if not np.all((avail >= 0) & (avail <= 1)):
            raise ConfigError(
                "availability as an hourly series must lie in [0, 1] every hour (share of the "
                "heat pump's capacity available)."
            )
        capfac_row = None if np.all(avail == 1.0) else avail
    else:
        raise ConfigError(
            f"availability has shape {avail.shape}; give one number (e.g. {HP_AVAILABILITY}) "
            f"or an hourly capacity factor of length {n_hours}."
        )
    if capfac_row is not None:
        capfac_row = capfac_row.reshape(1, n_hours)
    units_given = units is not None
    if units_given:
        n_units = site("units", units, 1, np.inf, False, "Give a whole number of units >= 1.")
        if np.any(n_units != np.round(n_units)):
            raise ConfigError("units must be whole numbers of heat-pump units (>= 1).")
        if not 0.0 <= min_part_load < 1.0:
            raise ConfigError(
                f"min_part_load={min_part_load!r} must lie in [0, 1); the default is "
                f"{MIN_PART_LOAD} of one unit's capacity."
            )
    mr_given = must_run_mw is not None
    if mr_given:
        must_run = _hourly("must_run_mw", must_run_mw, n_sites, n_hours)
        if not np.all(np.isfinite(must_run) & (must_run >= 0)):
            raise ConfigError(
                "must_run_mw must be finite and >= 0 every hour (MW of must-run heat in the "
                "network, same units as network_demand_mw)."
            )
    price_given = electricity_price_eur_per_mwh is not None
    price_row = None
    if price_given:
        price = _hourly(
            "electricity_price_eur_per_mwh", electricity_price_eur_per_mwh, n_sites, n_hours
        )
        if not np.all(np.isfinite(price)):
            raise ConfigError(
                "electricity_price_eur_per_mwh must be finite every hour (EUR/MWh; negative "
                "prices are allowed). Fill gaps in the price series first."
            )
        if price.shape[0] == 1:  # shared by all sites: fold into the per-hour tables
            price_row = price

    # The plant's hourly factors depend on a site only through its per-site temperatures and
    # eta: with hourly inputs shared by all sites (or constant per site), evaluate them once per
    # distinct combination (typically one per cooling type and network) instead of once per
    # site-hour, and process the sites group by group so every chunk multiplies by one shared
    # hourly row. A (sites, hours) temperature input takes the per-chunk path.
    temps = (s_in, s_out, sup)
    shared = all(x.shape[0] == 1 or x.shape[1] == 1 for x in temps)
    if shared:
        key_cols = [ret, eta_a] + [x[:, 0] for x in temps if x.shape[0] > 1]
        uniq, group = np.unique(np.stack(key_cols, axis=1), axis=0, return_inverse=True)
        group = group.reshape(-1)
        args, col = [], 2  # per-site temperatures come from their key column, hourly ones as is
        for x in temps:
            if x.shape[0] > 1:
                args.append(uniq[:, col : col + 1])
                col += 1
            else:
                args.append(x)
        tab_u = _tables(
            cop_model,
            (args[0], args[1], uniq[:, 0:1], args[2], uniq[:, 1:2]),
            practical,
            capfac_row,
            price_row,
            (uniq.shape[0], n_hours),
            dtype,
        )
        gain_sum_u = tab_u.gain.sum(axis=1, dtype=float)
        gain_max_u = tab_u.gain.max(axis=1).astype(float)
    else:
        group = np.zeros(n_sites, dtype=np.intp)
    if chunk_sites is None:
        chunk_sites = max(1, _CHUNK_ELEMENTS // n_hours)
    if int(chunk_sites) < 1:
        raise ConfigError(f"chunk_sites={chunk_sites!r} must be a positive number of sites.")
    chunk_sites = int(chunk_sites)
    order = np.argsort(group, kind="stable")
    in_order = bool(np.all(order[1:] > order[:-1]))
    bounds = np.flatnonzero(np.diff(group[order])) + 1  # where a new group starts
    chunks = [
        (a, min(a + chunk_sites, hi))
        for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, n_sites], strict=True)
        for a in range(int(lo), int(hi), chunk_sites)
    ]

    totals = {
        k: np.zeros(n_sites)
        for k in (
            "recovered",
            "available",
            "delivered",
            "electricity",
            "produced",
            "storage_gain",
            "hp_cap",
            "peak",
            "it_hours",
            "exchanger",
            "must_run",
            "displaced",
            "cost",
        )
    }
    hourly_out: dict[str, NDArray[Any]] | None = None
    if return_hourly:
        names = (
            "available_mw",
            "produced_mw",
            "delivered_mw",
            "electricity_mw",
            "exchanger_mw",
            "cop",
        )
        hourly_out = {k: np.empty((n_sites, n_hours), dtype=dtype) for k in names}
    q_src_site = f_cap * p_it  # MW at full IT load
    # Working buffers reused by every chunk (no allocation in the loop's hot path).
    buf_prod = np.empty((chunk_sites, n_hours), dtype=dtype)
    buf_del = np.empty((chunk_sites, n_hours), dtype=dtype)
    buf_lim = np.empty((chunk_sites, n_hours), dtype=dtype)
    buf_cap = np.empty((chunk_sites, n_hours), dtype=dtype) if capfac_row is not None else None
    must_run_shared: Any = 0.0
    if mr_given:
        buf_mr = np.empty((chunk_sites, n_hours), dtype=dtype)
        buf_lim0 = np.empty((chunk_sites, n_hours), dtype=dtype)
        buf_del0 = np.empty((chunk_sites, n_hours), dtype=dtype)
        # must-run and demand both shared by all sites: the net demand is one row
        net_row = None
        if demand.shape[0] == 1 and must_run.shape[0] == 1:
            net_row = np.maximum(demand - must_run, 0.0).astype(dtype)
            must_run_shared = _row_sums(np.minimum(must_run, demand), 1, n_hours)
    const_u = u_it.shape[1] == 1

    for a, b in chunks:
        m = b - a
        # Site indices of this chunk: a slice when sites are already grouped (no copies).
        idx: slice | NDArray[np.intp] = slice(a, b) if in_order else order[a:b]
        k = int(group[order[a]])
        u = _rows(u_it, idx)
        u_sum = u[:, 0] * n_hours if const_u else u.sum(axis=1)
        totals["it_hours"][idx] = u_sum
        totals["recovered"][idx] = q_src_site[idx] * u_sum
        q_src = q_src_site[idx, None].astype(dtype) * u.astype(dtype)  # (m, 1) or (m, hours)

        if shared:
            tab = tab_u.rows(k)
        else:
            tab = _tables(
                cop_model,
                (
                    _rows(s_in, idx),
                    _rows(s_out, idx),
                    ret[idx, None],
                    _rows(sup, idx),
                    eta_a[idx, None],
                ),
                practical,
                capfac_row,
                price_row,
                (m, n_hours),
                dtype,
            )
        el_per_heat = tab.el
        # Deliverable heat Q_src * COP / (COP - 1), in the `produced` buffer.
        prod = buf_prod[:m]
        np.multiply(q_src, tab.gain, out=prod)
        if shared and const_u:  # sums over hours of a product of a site and an hour term
            avail_sum = q_src_site[idx] * u[:, 0] * gain_sum_u[k]
            avail_max = q_src_site[idx] * u[:, 0] * gain_max_u[k]
        else:
            avail_sum = prod.sum(axis=1).astype(float)
            avail_max = prod.max(axis=1).astype(float)
        totals["available"][idx] = avail_sum
        if hourly_out is not None:
            hourly_out["available_mw"][idx] = prod
            hourly_out["cop"][idx] = tab.cop
        cap = hp_cap[idx] if cap_given else avail_max
        if cap_given:
            np.minimum(prod, cap[:, None].astype(dtype), out=prod)
        if tab.capfac is not None:  # planned maintenance / outages take part of the capacity
            if tab.capfac.shape[0] == 1:  # one row: only its hours below 1 need the cap
                cols = np.flatnonzero(tab.capfac[0] < 1.0)
                if cols.size and cols[-1] - cols[0] + 1 == cols.size:  # one block: a view
                    cols = slice(int(cols[0]), int(cols[-1]) + 1)
                    np.minimum(prod[:, cols], cap[:, None] * tab.capfac[0, cols], out=prod[:, cols])
                else:
                    sub = np.minimum(prod[:, cols], cap[:, None] * tab.capfac[0, cols])
                    prod[:, cols] = sub
            else:
                cap_h = np.multiply(cap[:, None].astype(dtype), tab.capfac, out=buf_cap[:m])
                np.minimum(prod, cap_h, out=prod)
        totals["hp_cap"][idx] = cap

        # What the network may take: its demand (less must-run heat) times the site's share.
        if demand.shape[0] == 1 or in_order:
            limit = _rows(demand, idx).astype(dtype, copy=False)
        elif demand.dtype == dtype:  # gather this group's rows straight into the buffer
            limit = np.take(demand, order[a:b], axis=0, out=buf_lim[:m])
        else:
            limit = demand[order[a:b]].astype(dtype)
        if not limit.min() >= 0:  # also catches NaN
            bad = int(np.flatnonzero(~(limit.min(axis=1) >= 0))[0])
            where = "every site" if limit.shape[0] == 1 else f"site {np.arange(n_sites)[idx][bad]}"
            raise ConfigError(
                f"network_demand_mw is negative or NaN in some hour for {where}; demand must be "
                ">= 0 every hour (build it with network_demand_profile())."
            )
        share_k = share[idx]
        scaled = bool(np.any(share_k != 1.0))
        if mr_given:
            limit0 = limit
            if net_row is not None:
                limit = net_row
                totals["must_run"][idx] = must_run_shared
            else:
                net = np.subtract(limit, _rows(must_run, idx).astype(dtype), out=buf_mr[:m])
                np.maximum(net, 0.0, out=net)
                # must-run heat the network takes: min(must_run, demand) = demand - net demand
                totals["must_run"][idx] = _row_sums(limit, m, n_hours) - net.sum(axis=1)
                limit = net
            if scaled:
                limit0 = np.multiply(limit0, share_k[:, None].astype(dtype), out=buf_lim0[:m])
        if scaled:
            limit = np.multiply(limit, share_k[:, None].astype(dtype), out=buf_lim[:m])
        delivered = np.minimum(prod, limit, out=buf_del[:m])
        thr = None
        if units_given:  # below one unit's minimum load the heat pump stays off
            thr = (min_part_load * cap / n_units[idx])[:, None].astype(dtype)
            if tab.nondirect is not None:  # direct exchange has no minimum load
                thr = thr * tab.nondirect
            _gate(delivered, thr)

        # The heat pump makes what the network takes; electricity and source heat follow.
        produced_sum = delivered.sum(axis=1).astype(float)
        el_sum = _dot_rows(delivered, el_per_heat)
        exch_sum = None if tab.share is None else _dot_rows(delivered, tab.share)
        elp = None
        if price_given:
            elp = tab.elp if tab.elp is not None else el_per_heat * _rows(price, idx)
            cost_sum = _dot_rows(delivered, elp)
        store_k = store[idx]
        tank = _daily_storage_split(prod, limit, store_k, n_hours)
        if tank is not None:
            # A tank also stores heat for later the same day: charging costs electricity when
            # charged, discharging adds to what the network gets (sparse: active days only).
            row, hour, charge, discharge = tank
            site_row = row[:, None]

            def at(table: NDArray[Any], hour=hour, site_row=site_row) -> NDArray[Any]:
                return table[0][hour] if table.shape[0] == 1 else table[site_row, hour]

            produced_sum += np.bincount(row, charge.sum(axis=1), minlength=m)
            el_sum += np.bincount(row, (charge * at(el_per_heat)).sum(axis=1), minlength=m)
            if exch_sum is not None:
                exch_sum += np.bincount(row, (charge * at(tab.share)).sum(axis=1), minlength=m)
            if elp is not None:
                cost_sum += np.bincount(row, (charge * at(elp)).sum(axis=1), minlength=m)
            gain_store = np.bincount(row, discharge.sum(axis=1), minlength=m)
            if hourly_out is not None:
                produced_h = delivered.copy()
                produced_h[site_row, hour] += charge
            delivered[site_row, hour] += discharge
        elif hourly_out is not None:
            produced_h = delivered
        totals["produced"][idx] = produced_sum
        totals["electricity"][idx] = el_sum
        if exch_sum is not None:
            totals["exchanger"][idx] = exch_sum
        if price_given:
            totals["cost"][idx] = cost_sum
        if tank is None:
            totals["delivered"][idx] = produced_sum
        else:
            totals["delivered"][idx] = delivered.sum(axis=1).astype(float)
            totals["storage_gain"][idx] = gain_store
        totals["peak"][idx] = delivered.max(axis=1)
        if mr_given:  # the same plant without the must-run producers, for what they displace
            d0 = np.minimum(prod, limit0, out=buf_del0[:m])
            if thr is not None:
                _gate(d0, thr)
            tank0 = _daily_storage_split(prod, limit0, store_k, n_hours)
            if tank0 is not None:  # summed as the delivered heat above, so no must-run gives 0
                d0[tank0[0][:, None], tank0[1]] += tank0[3]
            totals["displaced"][idx] = d0.sum(axis=1).astype(float) - totals["delivered"][idx]
        if hourly_out is not None:
            hourly_out["produced_mw"][idx] = produced_h
            hourly_out["delivered_mw"][idx] = delivered
            hourly_out["electricity_mw"][idx] = produced_h * el_per_heat
            hourly_out["exchanger_mw"][idx] = 0.0 if tab.share is None else produced_h * tab.share
    delivered_t = totals["delivered"]
    electricity_t = totals["electricity"]
    reused = totals["produced"] - electricity_t  # source heat used = heat made - electricity
    dc_energy = p_it * pue_a * totals["it_hours"]
    erf = reused / dc_energy
    hp_heat = np.maximum(totals["produced"] - totals["exchanger"], 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        utilisation = np.where(totals["available"] > 0, delivered_t / totals["available"], 0.0)
        cop_eff = delivered_t / electricity_t  # inf when all heat went in directly
        cop_hp = np.where(electricity_t > 0, hp_heat / electricity_t, np.nan)
        if price_given:
            cost = totals["cost"]
            price_w = np.where(electricity_t > 0, cost / electricity_t, np.nan)
        else:
            cost = price_w = np.full(n_sites, np.nan)
    full_load = delivered_t / totals["hp_cap"]

    def out(x: NDArray[Any]) -> Any:
        return _out(x[0]) if scalar_site else x

    if hourly_out is not None:
        hourly_out["source_used_mw"] = hourly_out["produced_mw"] - hourly_out["electricity_mw"]
        if scalar_site:
            hourly_out = {k: v[0] for k, v in hourly_out.items()}
    return HourlyResult(
        hours=n_hours,
        recovered_heat_mwh_per_yr=out(totals["recovered"]),
        available_heat_mwh_per_yr=out(totals["available"]),
        delivered_heat_mwh_per_yr=out(delivered_t),
        reused_heat_mwh_per_yr=out(reused),
        # clipped: when everything is used the difference is round-off, never a real negative
        wasted_heat_mwh_per_yr=out(np.maximum(totals["recovered"] - reused, 0.0)),
        electricity_mwh_per_yr=out(electricity_t),
        dc_energy_mwh_per_yr=out(dc_energy),
        utilisation=out(utilisation),
        heat_pump_max_mw=out(totals["hp_cap"]),
        peak_delivered_mw=out(totals["peak"]),
        full_load_hours=out(full_load),
        cop_effective=out(cop_eff),
        erf=out(erf),
        **{k: out(v) for k, v in enefg_flags(erf).items()},
        storage_gain_mwh_per_yr=out(totals["storage_gain"]),
        exchanger_heat_mwh_per_yr=out(totals["exchanger"]),
        heat_pump_heat_mwh_per_yr=out(hp_heat),
        cop_heat_pump=out(cop_hp),
        must_run_mwh_per_yr=out(totals["must_run"]),
        displaced_by_must_run_mwh_per_yr=out(totals["displaced"]),
        electricity_price_weighted_eur_per_mwh=out(price_w),
        electricity_cost_eur_per_yr=out(cost),
        hourly=hourly_out,
    )


# --- helpers for figures -------------------------------------------------------------------------


def load_duration_curve(
    hourly_delivered: ArrayLike, hourly_available: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[Any], NDArray[Any]]:
    """Load-duration curves: each series sorted from its highest hour down.

    Parameters
    ----------
    hourly_delivered, hourly_available : array (..., n_hours)
        e.g. ``result.hourly["delivered_mw"]`` and ``["available_mw"]``.

    Returns
    -------
    duration_h, delivered_sorted_mw, available_sorted_mw
        ``duration_h`` is 1..n_hours (hours per year at or above the value); each curve is
        sorted independently along the last axis.
    """
    d = np.asarray(hourly_delivered)
    a = np.asarray(hourly_available)
    if d.shape != a.shape:
        raise ConfigError(
            f"hourly_delivered {d.shape} and hourly_available {a.shape} must have the same shape."
        )
    duration = np.arange(1, d.shape[-1] + 1, dtype=float)
    return duration, -np.sort(-d, axis=-1), -np.sort(-a, axis=-1)


def monthly_totals(hourly: ArrayLike, index: Any) -> NDArray[np.float64]:
    """Sum hourly MW into monthly MWh.

    Parameters
    ----------
    hourly : array (..., n_hours)
        Hourly power [MW] (one hour at 1 MW = 1 MWh).
    index : pandas.DatetimeIndex, Series with one, or array of month numbers 1-12
        The hours' timestamps, e.g. the weather series' index.

    Returns
    -------
    ndarray (..., 12)
        MWh in January..December (zero for months absent from ``index``).
    """
    months = getattr(getattr(index, "index", index), "month", index)
    months = np.asarray(months, dtype=int)
    h = np.asarray(hourly, dtype=float)
    if months.ndim != 1 or months.size != h.shape[-1]:
        raise ConfigError(
            f"index has {months.size} entries but hourly has {h.shape[-1]} hours; pass the "
            "weather series' DatetimeIndex."
        )
    if np.any((months < 1) | (months > 12)):
        raise ConfigError("index months must lie in 1..12.")
    onehot = np.zeros((months.size, 12))
    onehot[np.arange(months.size), months - 1] = 1.0
    return h @ onehot


def plot_load_duration(
    ax: Any, hourly_delivered: ArrayLike, hourly_available: ArrayLike, label: str | None = None
) -> Any:
    """Draw one site's load-duration curves (available vs delivered) on a matplotlib ``ax``."""
    duration, delivered, available = load_duration_curve(hourly_delivered, hourly_available)
    if delivered.ndim != 1:
        raise ConfigError("plot_load_duration draws one site: pass 1-D hourly arrays.")
    prefix = f"{label}: " if label else ""
    ax.plot(duration, available, color="0.5", lw=1, label=f"{prefix}available")
    ax.fill_between(duration, delivered, color="tab:red", alpha=0.5, lw=0)
    ax.plot(duration, delivered, color="tab:red", lw=1.5, label=f"{prefix}delivered")
    ax.set_xlabel("hours per year at or above")
    ax.set_ylabel("heat [MW]")
    ax.set_xlim(0, duration[-1])
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper right")
    return ax
