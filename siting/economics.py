"""Costs, levelised cost of heat, NPV and CO2 of a data-center heat-recovery project.

Implements docs/model.md section 5, with the heat pump's electricity priced as energy + Danish
electricity tax + grid tariffs (weighted by its own hourly consumption when the hourly model
gives one). Pure numpy: arguments may be scalars or arrays with one value per
site and broadcast together; scalar inputs give Python ``float`` results. Money in EUR (2015 EUR
where the source is DEA/Hotmaps), energy in MWh, power in MW.

A CAPEX item is a tuple ``(capex_eur, life_yr, om_fraction_per_yr)``: the investment, its
economic life and its fixed O&M as a share of the investment per year (e.g. pipe O&M 1 %/yr).
Each element may itself be an array over sites.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from siting.errors import ConfigError

__all__ = [
    "DISCOUNT_RATE",
    "DISCOUNT_RATE_SOCIAL",
    "DISCOUNT_RATE_UTILITY",
    "DKK_PER_EUR",
    "DSO_TARIFF_DK_EUR_PER_MWH",
    "EF_DISPLACED_GAS_BOILER_T_PER_MWH",
    "EF_ELECTRICITY_DK_2025_T_PER_MWH",
    "EF_ELECTRICITY_DK_2030_T_PER_MWH",
    "ELECTRICITY_PRICE_EUR_PER_MWH",
    "ELECTRICITY_TAX_HEAT_PUMP_DK_EUR_PER_MWH",
    "HEAT_PUMP_CAPEX_POINTS",
    "HP_FOM_EUR_PER_MW_YR",
    "HP_LIFE_YR",
    "HP_VOM_EUR_PER_MWH",
    "NPV_HORIZON_YR",
    "PIPE_LIFE_YR",
    "PIPE_OM_FRACTION_PER_YR",
    "PIPE_VOM_EUR_PER_MWH_KM",
    "REFERENCE_HEAT_PRICE_EUR_PER_MWH",
    "TSO_TARIFF_DK_2024_EUR_PER_MWH",
    "CapexItem",
    "annuity_factor",
    "co2_avoided_t_per_yr",
    "consumption_weighted_price_eur_per_mwh",
    "crf",
    "heat_pump_electricity_price_eur_per_mwh",
    "heat_pump_capex_eur_per_mw",
    "lcoh_eur_per_mwh",
    "npv_eur",
]

CapexItem = tuple[ArrayLike, ArrayLike, ArrayLike]  # (capex_eur, life_yr, om_fraction_per_yr)

# Defaults with docs/model.md tags ([V] read in source, [D] derived, [M] engineering default).
DISCOUNT_RATE = 0.04  # docs/model.md s5 default
DISCOUNT_RATE_SOCIAL = 0.035  # [V S38] Danish Ministry of Finance
DISCOUNT_RATE_UTILITY = 0.05  # docs/model.md s5
ELECTRICITY_PRICE_EUR_PER_MWH = 80.0  # [M] range 40-150
REFERENCE_HEAT_PRICE_EUR_PER_MWH = 70.0  # [V S43] Danish variable DH tariffs 600-810 DKK/MWh
NPV_HORIZON_YR = 25.0  # = heat-pump life [V S26]; see npv_eur for the convention
# Large heat pump, EUR per MW of heat output, by size in MW [V S26,S25]: 1 MW 1.24-1.32 M (mid
# 1.28), 3 MW 0.86-0.91 M (mid 0.885), 10 MW 0.70 M.
HEAT_PUMP_CAPEX_POINTS = ((1.0, 1.28e6), (3.0, 0.885e6), (10.0, 0.70e6))
HP_FOM_EUR_PER_MW_YR = 2000.0  # [V S26]
HP_VOM_EUR_PER_MWH = 2.0  # [V S26]
HP_LIFE_YR = 25.0  # [V S26]
PIPE_LIFE_YR = 40.0  # [M]
PIPE_OM_FRACTION_PER_YR = 0.01  # [M] of pipe CAPEX
PIPE_VOM_EUR_PER_MWH_KM = 0.1  # [V S27]
# Emission factors, t/MWh (= kg/kWh).
EF_DISPLACED_GAS_BOILER_T_PER_MWH = 0.204 / 0.95  # [V S33] gas 0.204 kg/kWh fuel, boiler eff 0.95
EF_ELECTRICITY_DK_2025_T_PER_MWH = 0.135  # [V S31] BR18 2025
EF_ELECTRICITY_DK_2030_T_PER_MWH = 0.047  # [V S31] BR18 2030
# Electricity bought by a heat pump in Denmark, on top of the energy (spot) price, excl. VAT (a
# utility deducts VAT). All per MWh of electricity.
DKK_PER_EUR = 7.46  # [V] ERM II central rate 7.46038 DKK/EUR
# Electricity tax on electricity for heating (elvarmeafgift), incl. heat pumps producing district
# heat: cut to the EU minimum from 1 Jan 2021 by the Climate Agreement for Energy and Industry 2020
# (bill L 90 2020/21, skatteministeren): 0.4 oere/kWh for VAT-registered businesses, 0.8 for
# households [V: L 90 as introduced 12 Nov 2020, ft.dk; Scanenergi, "Nye energiafgifter og
# overskudsvarme", 27 Aug 2020]. Holds 2021-2025 as far as found; range 0.4-0.8 oere/kWh.
ELECTRICITY_TAX_HEAT_PUMP_DK_EUR_PER_MWH = 4.0 / DKK_PER_EUR  # 0.54 EUR/MWh
# Energinet (TSO) consumption tariffs 2024 for business customers, excl. VAT: transmission grid
# 7.4 + system 5.1 oere/kWh [V: Verdo customer notice of the 1 Jan 2024 tariff change, quoting
# Energinet; 2023: 5.8 + 5.4]. Year: 2024.
TSO_TARIFF_DK_2024_EUR_PER_MWH = 125.0 / DKK_PER_EUR  # 16.8 EUR/MWh
# DSO tariff of a large heat pump on the 10 kV grid ("B-high" customer), time-of-use average [M]:
# Elnet Oest 2021 B-high tariff 6.61 / 15.63 / 26.18 oere/kWh at low / high / peak load [V], a
# heat pump running mostly in low- and high-load hours -> ~10 oere/kWh; range 6-20. Year: 2021
# basis. Give an hourly tariff through the hourly price instead when the DSO's profile is known.
DSO_TARIFF_DK_EUR_PER_MWH = 100.0 / DKK_PER_EUR  # 13.4 EUR/MWh


_NONNEG = "Give a finite, non-negative number in the unit its name states."


def _out(x: NDArray[Any]) -> Any:
    """Return a Python float for 0-d results so scalar callers get plain floats."""
    x = np.asarray(x)
    return x.item() if x.ndim == 0 else x


def _arr(name: str, value: ArrayLike, *, lo: float, lo_open: bool, fix: str) -> NDArray[Any]:
    """Float array of ``value``; ConfigError naming it unless finite and above ``lo``."""
    v = np.asarray(value, dtype=float)
    ok = np.isfinite(v) & ((v > lo) if lo_open else (v >= lo))
    if not np.all(ok):
        bad = v[~ok].ravel()[0].item()
        op = ">" if lo_open else ">="
        raise ConfigError(f"{name}={bad!r} is invalid: it must be finite and {op} {lo}. {fix}")
    return v


def _rate(rate: ArrayLike) -> NDArray[Any]:
    r = np.asarray(rate, dtype=float)
    ok = np.isfinite(r) & (r > -1) & (r < 1)
    if not np.all(ok):
        raise ConfigError(
            f"discount rate {r[~ok].ravel()[0].item()!r} is invalid: give it as a fraction per "
            f"year in (-1, 1), e.g. {DISCOUNT_RATE} for 4 %."
        )
    return r


def crf(rate: ArrayLike, years: ArrayLike) -> Any:
    """Capital recovery factor ``r(1+r)^n / ((1+r)^n - 1)`` (docs/model.md s5).

    Parameters
    ----------
    rate : float or array
        Discount rate per year as a fraction (0.04 = 4 %). ``0`` gives ``1/years``.
    years : float or array
        Economic life, > 0.
    """
    r = _rate(rate)
    n = _arr("years", years, lo=0.0, lo_open=True, fix="Give the economic life in years.")
    r, n = np.broadcast_arrays(r, n)
    # r / (1 - (1+r)^-n), written with log1p/expm1 so small rates keep full precision.
    with np.errstate(divide="ignore", invalid="ignore"):
        value = r / -np.expm1(-n * np.log1p(r))
    return _out(np.where(np.abs(r) < 1e-12, 1.0 / n, value))


def annuity_factor(rate: ArrayLike, years: ArrayLike) -> Any:
    """Present value of 1 EUR/yr paid at the end of each of ``years`` years: ``1 / crf``."""
    return _out(1.0 / np.asarray(crf(rate, years)))


def _capex_terms(capex_items: Sequence[CapexItem], rate: ArrayLike) -> tuple[Any, Any]:
    """Return (sum of annualised CAPEX, sum of CAPEX-proportional O&M), both EUR/yr."""
    annual_capex: Any = 0.0
    annual_om: Any = 0.0
    for i, item in enumerate(capex_items):
        try:
            capex, life, om_frac = item
        except (TypeError, ValueError):
            raise ConfigError(
                f"capex_items[{i}]={item!r} is not a (capex_eur, life_yr, om_fraction_per_yr) "
                "tuple. Example: [(7.0e6, 25, 0.0), (2.5e6, 40, 0.01)]."
            ) from None
        c = _arr(f"capex_items[{i}] capex_eur", capex, lo=0.0, lo_open=False, fix="CAPEX >= 0.")
        f = _arr(
            f"capex_items[{i}] om_fraction_per_yr",
            om_frac,
            lo=0.0,
            lo_open=False,
            fix="Give O&M as a share of CAPEX per year, e.g. 0.01.",
        )
        annual_capex = annual_capex + c * np.asarray(crf(rate, life))
        annual_om = annual_om + c * f
    return annual_capex, annual_om


def _energy_terms(
    fixed_om_eur_per_yr: ArrayLike,
    variable_om_eur_per_mwh: ArrayLike,
    electricity_price_eur_per_mwh: ArrayLike,
    cop: ArrayLike,
    delivered_mwh_per_yr: ArrayLike,
) -> tuple[Any, Any, Any]:
    """Validate and return (fixed O&M EUR/yr, variable cost EUR/MWh delivered, E_del MWh/yr)."""
    fom = _arr("fixed_om_eur_per_yr", fixed_om_eur_per_yr, lo=0.0, lo_open=False, fix=_NONNEG)
    vom = _arr(
        "variable_om_eur_per_mwh", variable_om_eur_per_mwh, lo=0.0, lo_open=False, fix=_NONNEG
    )
    p_el = _arr(
        "electricity_price_eur_per_mwh",
        electricity_price_eur_per_mwh,
        lo=0.0,
        lo_open=False,
        fix=f"Default {ELECTRICITY_PRICE_EUR_PER_MWH} EUR/MWh.",
    )
    cop_a = np.asarray(cop, dtype=float)
    if not np.all(cop_a > 0):  # inf allowed (no heat pump); NaN rejected
        raise ConfigError(
            f"cop={cop_a[~(cop_a > 0)].ravel()[0].item()!r} is invalid: the effective COP "
            "(E_delivered / W_el) must be > 0; "
            "use inf when no heat pump is needed."
        )
    e_del = _arr(
        "delivered_mwh_per_yr",
        delivered_mwh_per_yr,
        lo=0.0,
        lo_open=False,
        fix="Give the heat delivered to the network per year in MWh.",
    )
    # p_el / inf == 0: direct heat exchange buys no heat-pump electricity.
    return fom, vom + p_el / cop_a, e_del


def lcoh_eur_per_mwh(
    capex_items: Sequence[CapexItem],
    fixed_om_eur_per_yr: ArrayLike,
    variable_om_eur_per_mwh: ArrayLike,
    electricity_price_eur_per_mwh: ArrayLike,
    cop: ArrayLike,
    delivered_mwh_per_yr: ArrayLike,
    discount_rate: ArrayLike,
) -> Any:
    """Levelised cost of heat delivered to the network [EUR/MWh] (docs/model.md s5).

    ``(sum_i capex_i * CRF(r, n_i) + FOM + sum_i capex_i * om_i + E * (VOM + p_el / COP)) / E``

    Parameters
    ----------
    capex_items : sequence of (capex_eur, life_yr, om_fraction_per_yr)
        Investments (heat pump, pipe, connection station...), elements scalar or per-site arrays.
    fixed_om_eur_per_yr : float or array
        Fixed O&M not proportional to CAPEX (e.g. heat-pump FOM 2,000 EUR/MW/yr * size).
    variable_om_eur_per_mwh : float or array
        VOM per MWh delivered (heat pump 2 EUR/MWh + pipe 0.1 EUR/MWh/km * length).
    electricity_price_eur_per_mwh : float or array
    cop : float or array
        Effective annual COP = E_delivered / W_el; ``inf`` for direct exchange (no electricity).
    delivered_mwh_per_yr : float or array
        Heat delivered per year E; ``0`` gives ``inf``.
    discount_rate : float or array
        Fraction per year.

    Returns
    -------
    float or ndarray
    """
    r = _rate(discount_rate)
    annual_capex, annual_om = _capex_terms(capex_items, r)
    fom, var_eur_per_mwh, e_del = _energy_terms(
        fixed_om_eur_per_yr,
        variable_om_eur_per_mwh,
        electricity_price_eur_per_mwh,
        cop,
        delivered_mwh_per_yr,
    )
    fixed = annual_capex + annual_om + fom
    with np.errstate(divide="ignore", invalid="ignore"):
        lcoh = fixed / e_del + var_eur_per_mwh
    return _out(np.where(e_del > 0, lcoh, np.inf))


def npv_eur(
    capex_items: Sequence[CapexItem],
    fixed_om_eur_per_yr: ArrayLike,
    variable_om_eur_per_mwh: ArrayLike,
    electricity_price_eur_per_mwh: ArrayLike,
    cop: ArrayLike,
    delivered_mwh_per_yr: ArrayLike,
    discount_rate: ArrayLike,
    *,
    heat_price_eur_per_mwh: ArrayLike = REFERENCE_HEAT_PRICE_EUR_PER_MWH,
    horizon_yr: ArrayLike = NPV_HORIZON_YR,
) -> Any:
    """Net present value of selling the delivered heat at the price of the heat it replaces.

    Convention (equivalent-annual-cost, standard in DEA/LCOH practice): each CAPEX item is
    replaced by its annuity ``capex_i * CRF(r, n_i)`` paid every year of the horizon, so items
    with lives shorter or longer than the horizon need no reinvestment or salvage bookkeeping.
    With end-of-year cash flows over ``horizon_yr`` years::

        annual_net = E * (heat_price - VOM - p_el / COP) - FOM - sum_i capex_i * om_i
                     - sum_i capex_i * CRF(r, n_i)
        NPV = annual_net / CRF(r, horizon_yr)

    Hence ``NPV = (heat_price - LCOH) * E / CRF(r, H)``: NPV is zero exactly where the heat price
    equals :func:`lcoh_eur_per_mwh` with the same inputs. When an item's life equals the horizon
    this is identical to the classic ``-capex + sum_t net_t / (1+r)^t``.

    Parameters
    ----------
    capex_items, fixed_om_eur_per_yr, variable_om_eur_per_mwh, electricity_price_eur_per_mwh, \
cop, delivered_mwh_per_yr, discount_rate
        As for :func:`lcoh_eur_per_mwh`.
    heat_price_eur_per_mwh : float or array, default 70
        Reference price of the heat replaced (revenue per MWh delivered).
    horizon_yr : float or array, default 25
        Analysis horizon (heat-pump life).

    Returns
    -------
    float or ndarray
        NPV [EUR], positive when recovery is cheaper than the reference heat.
    """
    r = _rate(discount_rate)
    annual_capex, annual_om = _capex_terms(capex_items, r)
    fom, var_eur_per_mwh, e_del = _energy_terms(
        fixed_om_eur_per_yr,
        variable_om_eur_per_mwh,
        electricity_price_eur_per_mwh,
        cop,
        delivered_mwh_per_yr,
    )
    price = _arr(
        "heat_price_eur_per_mwh", heat_price_eur_per_mwh, lo=0.0, lo_open=False, fix=_NONNEG
    )
    annual_net = e_del * (price - var_eur_per_mwh) - fom - annual_om - annual_capex
    return _out(annual_net * np.asarray(annuity_factor(r, horizon_yr)))


def heat_pump_capex_eur_per_mw(size_mw: ArrayLike) -> Any:
    """Specific CAPEX of a large heat pump [EUR per MW heat output] (docs/model.md s5, [V S26,S25]).

    Linear interpolation in ``log(size)`` through 1 MW 1.28 M, 3 MW 0.885 M, 10 MW 0.70 M EUR/MW.
    Flat beyond the ends (sizes < 1 MW cost 1.28 M/MW, > 10 MW 0.70 M/MW): no economy-of-scale
    data outside that range, and flat avoids absurd values for tiny or huge units.
    """
    s = _arr("size_mw", size_mw, lo=0.0, lo_open=True, fix="Give heat-pump output in MW.")
    sizes, costs = zip(*HEAT_PUMP_CAPEX_POINTS, strict=True)
    return _out(np.interp(np.log(s), np.log(sizes), costs))


def co2_avoided_t_per_yr(
    delivered_mwh_per_yr: ArrayLike,
    electricity_mwh_per_yr: ArrayLike,
    ef_displaced_t_per_mwh: ArrayLike = EF_DISPLACED_GAS_BOILER_T_PER_MWH,
    ef_electricity_t_per_mwh: ArrayLike = EF_ELECTRICITY_DK_2025_T_PER_MWH,
) -> Any:
    """CO2 avoided per year [t]: ``E_del * ef_displaced - W_el * ef_electricity``
    (docs/model.md s5).

    Defaults: displaced heat from a natural-gas boiler (0.204 t/MWh fuel / 0.95) and Danish 2025
    grid electricity (0.135 t/MWh). Negative when the heat pump emits more than it displaces.
    """
    e = _arr("delivered_mwh_per_yr", delivered_mwh_per_yr, lo=0.0, lo_open=False, fix=_NONNEG)
    w = _arr("electricity_mwh_per_yr", electricity_mwh_per_yr, lo=0.0, lo_open=False, fix=_NONNEG)
    efd = _arr("ef_displaced_t_per_mwh", ef_displaced_t_per_mwh, lo=0.0, lo_open=False, fix=_NONNEG)
    efe = _arr(
        "ef_electricity_t_per_mwh", ef_electricity_t_per_mwh, lo=0.0, lo_open=False, fix=_NONNEG
    )
    return _out(e * efd - w * efe)


def heat_pump_electricity_price_eur_per_mwh(
    energy_price_eur_per_mwh: ArrayLike,
    *,
    electricity_tax_eur_per_mwh: ArrayLike = ELECTRICITY_TAX_HEAT_PUMP_DK_EUR_PER_MWH,
    tso_tariff_eur_per_mwh: ArrayLike = TSO_TARIFF_DK_2024_EUR_PER_MWH,
    dso_tariff_eur_per_mwh: ArrayLike = DSO_TARIFF_DK_EUR_PER_MWH,
) -> Any:
    """Price a heat pump pays per MWh of electricity: energy + tax + TSO and DSO tariffs.

    Excl. VAT (a heat utility deducts it). Defaults are the Danish figures above: electricity
    tax for heating at the EU minimum (0.54 EUR/MWh, from 2021), Energinet 2024 tariffs
    (16.8 EUR/MWh) and a 10 kV DSO tariff (13.4 EUR/MWh [M]).

    Parameters
    ----------
    energy_price_eur_per_mwh : float or array
        Energy price [EUR/MWh]: a flat price, an hourly spot series, or the consumption-weighted
        price of an hourly run (``HourlyResult.electricity_price_weighted_eur_per_mwh``). May be
        negative in single hours.
    electricity_tax_eur_per_mwh, tso_tariff_eur_per_mwh, dso_tariff_eur_per_mwh : float or array
        Per MWh of electricity, >= 0; hourly arrays for time-of-use tariffs.

    Returns
    -------
    float or ndarray
        The sum, broadcast over the inputs.
    """
    energy = np.asarray(energy_price_eur_per_mwh, dtype=float)
    if not np.all(np.isfinite(energy)):
        raise ConfigError(
            "energy_price_eur_per_mwh must be finite (EUR/MWh); fill gaps in a price series."
        )
    parts = [
        _arr(name, value, lo=0.0, lo_open=False, fix=_NONNEG)
        for name, value in (
            ("electricity_tax_eur_per_mwh", electricity_tax_eur_per_mwh),
            ("tso_tariff_eur_per_mwh", tso_tariff_eur_per_mwh),
            ("dso_tariff_eur_per_mwh", dso_tariff_eur_per_mwh),
        )
    ]
    return _out(energy + parts[0] + parts[1] + parts[2])


def consumption_weighted_price_eur_per_mwh(
    electricity_mw: ArrayLike, price_eur_per_mwh: ArrayLike
) -> Any:
    """Average electricity price weighted by the heat pump's own hourly consumption.

    ``sum_t W(t) * p(t) / sum_t W(t)`` over the last axis: what the heat pump actually pays per
    MWh, which differs from the time average when it runs more in expensive (winter) hours. The
    hourly model returns the same number as ``electricity_price_weighted_eur_per_mwh``.

    Parameters
    ----------
    electricity_mw : array (..., n_hours)
        Heat-pump electricity per hour [MW], >= 0 (e.g. ``HourlyResult.hourly["electricity_mw"]``).
    price_eur_per_mwh : array (n_hours,) or (..., n_hours)
        Price per hour [EUR/MWh].

    Returns
    -------
    float or ndarray
        EUR/MWh; NaN where the heat pump uses no electricity.
    """
    w = np.asarray(electricity_mw, dtype=float)
    p = np.asarray(price_eur_per_mwh, dtype=float)
    if w.ndim == 0 or p.ndim == 0 or w.shape[-1] != p.shape[-1]:
        raise ConfigError(
            f"electricity_mw {w.shape} and price_eur_per_mwh {p.shape} must be hourly series of "
            "the same length (last axis)."
        )
    if not (np.all(np.isfinite(w) & (w >= 0)) and np.all(np.isfinite(p))):
        raise ConfigError(
            "electricity_mw must be finite and >= 0 and price_eur_per_mwh finite every hour."
        )
    total = w.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _out(np.where(total > 0, (w * p).sum(axis=-1) / total, np.nan))
