"""CO2 of the heat a data center's heat displaces in a network (docs/model.md §8.4). Pure: no geo.

Method
------
A network's production is split by fuel: each plant's delivered heat is attributed to its
fuels in proportion to their energy input, and a CHP plant's fuel is shared between heat and
power in proportion to its heat and power output (the energy method). Summed over the plants,
each fuel ``f`` has ``fuel_mwh`` (fuel input attributed to heat) and ``heat_mwh`` (heat
delivered from it). The waste heat pushes out the producers that are neither must-run
(waste incineration) nor fuel-free (surplus heat, solar): over those fuels ``D``,

    ef_displaced = sum_D(fuel_mwh_f * ef_f) / sum_D(heat_mwh_f)        [t CO2 / MWh heat]

with ``ef_f`` the IPCC 2006 default factor per TJ of fuel (x 0.0036 TJ/MWh), waste counted at
its fossil share, biomass 0 (Danish accounting), and electricity for heat pumps and electric
boilers at the grid factor. When no displaced fuel has heat (no data, or only must-run), the
docs/model.md §5 default applies: a natural-gas boiler, 0.204 t/MWh fuel / 0.95.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from siting.errors import ConfigError, InputDataError

__all__ = [
    "BIOMASS_FUELS",
    "EF_ELECTRICITY_T_PER_MWH",
    "FUELS",
    "FUEL_FREE_FUELS",
    "GAS_BOILER_T_PER_MWH",
    "IPCC_T_CO2_PER_TJ",
    "MUST_RUN_FUELS",
    "NOT_DISPLACED_FUELS",
    "TJ_PER_MWH",
    "WASTE_FOSSIL_SHARE",
    "DisplacedEmission",
    "displaced_emission_factor_t_per_mwh",
    "displaced_emissions",
]

TJ_PER_MWH = 0.0036
# IPCC 2006 Guidelines Vol. 2 (Energy) Table 2.2 default CO2 factors, t CO2 per TJ of fuel
# (docs/model.md §8.4 [V]); waste oil: the same table's "waste oils" 73.3 [V]. Waste is the
# non-biomass fraction's factor, applied to WASTE_FOSSIL_SHARE of the waste's energy.
IPCC_T_CO2_PER_TJ: dict[str, float] = {
    "natural_gas": 56.1,
    "coal": 94.6,  # other bituminous coal
    "fuel_oil": 77.4,  # residual fuel oil
    "gas_oil": 74.1,  # gas/diesel oil
    "waste_oil": 73.3,
    "lpg": 63.1,
    "refinery_gas": 57.6,
    "waste": 91.7,
}
WASTE_FOSSIL_SHARE = 0.4  # [M] 0.3-0.6 of municipal waste energy is fossil (docs/model.md §8.4)
# biomass counts 0 as in Danish accounting (docs/model.md §8.4)
BIOMASS_FUELS = ("biogas", "straw", "wood_chips", "wood_waste", "wood_pellets", "bio_oil")
# no fuel burnt: surplus heat, solar, hydro, ambient heat lifted by heat pumps
FUEL_FREE_FUELS = ("fuel_free", "solar", "hydro", "ambient_heat")
EF_ELECTRICITY_T_PER_MWH = 0.135  # BR18 2025 grid factor [V S31], docs/model.md §5
GAS_BOILER_T_PER_MWH = 0.204 / 0.95  # gas 0.204 t/MWh fuel [V S33] / 0.95 boiler efficiency
# Every fuel key the registry knows (the DEA plant statistics' fuels, in English).
FUELS: tuple[str, ...] = (
    *IPCC_T_CO2_PER_TJ,
    *BIOMASS_FUELS,
    *FUEL_FREE_FUELS,
    "electricity",
)
# must-run supply serves the load first (docs/model.md §8.4): waste incineration and surplus heat
MUST_RUN_FUELS = ("waste", "fuel_free")
# producers a data center's heat does not push out: must-run and solar
NOT_DISPLACED_FUELS = ("waste", "fuel_free", "solar")


@dataclass(frozen=True)
class DisplacedEmission:
    """Result of :func:`displaced_emissions`.

    ``t_per_mwh`` is the factor to use; ``displaced_heat_mwh`` and ``emissions_t`` are the
    heat and CO2 of the displaced producers (0 when the fallback applies); ``by_fuel`` maps
    each displaced fuel to ``(heat_mwh, t_co2)``; ``method`` says what was done, in words.
    """

    t_per_mwh: float
    displaced_heat_mwh: float
    emissions_t: float
    fallback_used: bool
    method: str
    by_fuel: dict[str, tuple[float, float]] = field(default_factory=dict)


def fuel_factor_t_per_mwh(
    fuel: str,
    *,
    ef_electricity_t_per_mwh: float = EF_ELECTRICITY_T_PER_MWH,
    waste_fossil_share: float = WASTE_FOSSIL_SHARE,
    factors_t_per_tj: Mapping[str, float] | None = None,
) -> float:
    """t CO2 per MWh of fuel input for one fuel key of :data:`FUELS`."""
    table = {**IPCC_T_CO2_PER_TJ, **(factors_t_per_tj or {})}
    if fuel == "electricity":
        return float(ef_electricity_t_per_mwh)
    if fuel in BIOMASS_FUELS or fuel in FUEL_FREE_FUELS:
        return float(table.get(fuel, 0.0)) * TJ_PER_MWH
    if fuel not in table:
        raise InputDataError(
            f"fuel {fuel!r} has no emission factor; use one of {', '.join(FUELS)} or pass "
            "factors_t_per_tj={fuel: t CO2 per TJ}."
        )
    share = waste_fossil_share if fuel == "waste" else 1.0
    return float(table[fuel]) * TJ_PER_MWH * share


def displaced_emissions(
    fuel_mix: Mapping[str, Any] | Any,
    *,
    ef_electricity_t_per_mwh: float = EF_ELECTRICITY_T_PER_MWH,
    waste_fossil_share: float = WASTE_FOSSIL_SHARE,
    not_displaced: tuple[str, ...] = NOT_DISPLACED_FUELS,
    factors_t_per_tj: Mapping[str, float] | None = None,
    fallback_t_per_mwh: float = GAS_BOILER_T_PER_MWH,
) -> DisplacedEmission:
    """CO2 per MWh of the network heat a site displaces, with the numbers behind it.

    Parameters
    ----------
    fuel_mix
        Per fuel key (:data:`FUELS`): ``fuel_mwh`` (fuel input attributed to heat, MWh/yr)
        and ``heat_mwh`` (heat delivered from it, MWh/yr). A mapping ``{fuel: {"fuel_mwh":
        .., "heat_mwh": ..}}`` or ``{fuel: (fuel_mwh, heat_mwh)}``, or a DataFrame indexed by
        fuel with columns ``fuel_for_heat_mwh`` (or ``fuel_mwh``) and ``heat_mwh``.
    ef_electricity_t_per_mwh
        Grid factor for electricity used by heat pumps and electric boilers (docs/model.md §5).
    waste_fossil_share
        Fossil share of waste energy (0-1); only matters when waste is displaced.
    not_displaced
        Fuels whose producers the site does not push out (default must-run and solar).
    factors_t_per_tj
        Overrides of :data:`IPCC_T_CO2_PER_TJ`.
    fallback_t_per_mwh
        Used when no displaced fuel delivers heat (default: gas boiler, docs/model.md §5).

    Returns
    -------
    DisplacedEmission
    """
    if not 0.0 <= waste_fossil_share <= 1.0:
        raise ConfigError(f"waste_fossil_share must be in 0-1, got {waste_fossil_share!r}.")
    for name, value in (
        ("ef_electricity_t_per_mwh", ef_electricity_t_per_mwh),
        ("fallback_t_per_mwh", fallback_t_per_mwh),
    ):
        if not (math.isfinite(value) and value >= 0):
            raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}.")
    rows = _rows(fuel_mix)
    by_fuel: dict[str, tuple[float, float]] = {}
    for fuel, (fuel_mwh, heat_mwh) in rows.items():
        if fuel in not_displaced or heat_mwh <= 0:
            continue
        ef = fuel_factor_t_per_mwh(
            fuel,
            ef_electricity_t_per_mwh=ef_electricity_t_per_mwh,
            waste_fossil_share=waste_fossil_share,
            factors_t_per_tj=factors_t_per_tj,
        )
        by_fuel[fuel] = (heat_mwh, fuel_mwh * ef)
    heat = sum(h for h, _ in by_fuel.values())
    co2 = sum(t for _, t in by_fuel.values())
    if heat <= 0:
        return DisplacedEmission(
            t_per_mwh=float(fallback_t_per_mwh),
            displaced_heat_mwh=0.0,
            emissions_t=0.0,
            fallback_used=True,
            method=(
                "no displaceable producer with heat in the fuel mix; default natural-gas "
                f"boiler {fallback_t_per_mwh:.3f} t/MWh (docs/model.md §5)"
            ),
        )
    top = sorted(by_fuel.items(), key=lambda kv: -kv[1][0])[:4]
    shares = ", ".join(f"{f} {h / heat:.0%}" for f, (h, _) in top)
    return DisplacedEmission(
        t_per_mwh=co2 / heat,
        displaced_heat_mwh=heat,
        emissions_t=co2,
        fallback_used=False,
        method=(
            f"fuel x IPCC 2006 factor / heat over displaced producers ({shares}); not "
            f"displaced: {', '.join(not_displaced)}; electricity at "
            f"{ef_electricity_t_per_mwh:g} t/MWh"
        ),
        by_fuel=by_fuel,
    )


def displaced_emission_factor_t_per_mwh(fuel_mix: Mapping[str, Any] | Any, **kwargs: Any) -> float:
    """t CO2 per MWh of displaced network heat; see :func:`displaced_emissions` for arguments."""
    return displaced_emissions(fuel_mix, **kwargs).t_per_mwh


def _rows(fuel_mix: Mapping[str, Any] | Any) -> dict[str, tuple[float, float]]:
    """``{fuel: (fuel_mwh, heat_mwh)}`` from a mapping or a DataFrame (duck-typed: no pandas)."""
    if hasattr(fuel_mix, "columns") and hasattr(fuel_mix, "index"):
        cols = list(fuel_mix.columns)
        fuel_col = next((c for c in ("fuel_for_heat_mwh", "fuel_mwh") if c in cols), None)
        if fuel_col is None or "heat_mwh" not in cols:
            raise InputDataError(
                "fuel_mix DataFrame needs columns fuel_for_heat_mwh (or fuel_mwh) and heat_mwh, "
                f"indexed by fuel; got {cols}."
            )
        items = {
            str(f): (fuel_mix[fuel_col].loc[f], fuel_mix["heat_mwh"].loc[f]) for f in fuel_mix.index
        }
    elif isinstance(fuel_mix, Mapping):
        items = {}
        for f, v in fuel_mix.items():
            if isinstance(v, Mapping):
                items[str(f)] = (v.get("fuel_mwh", v.get("fuel_for_heat_mwh", 0.0)), v["heat_mwh"])
            else:
                a, b = v
                items[str(f)] = (a, b)
    else:
        raise InputDataError(
            f"fuel_mix must be a mapping or a DataFrame, got {type(fuel_mix).__name__}."
        )
    out = {}
    for f, (a, b) in items.items():
        a, b = float(a), float(b)
        if f not in FUELS:
            raise InputDataError(f"unknown fuel {f!r} in fuel_mix; known: {', '.join(FUELS)}.")
        if not (math.isfinite(a) and math.isfinite(b)) or a < 0 or b < 0:
            raise InputDataError(
                f"fuel {f!r}: fuel_mwh {a} and heat_mwh {b} must be finite and >= 0."
            )
        out[f] = (a, b)
    return out
