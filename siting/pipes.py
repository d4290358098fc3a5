"""Transmission pipe tables: sizing, heat loss, trench cost and street-class multipliers.

Implements docs/model.md section 4. Pure numpy: capacities [MW] and costs may be scalars or arrays
(one value per site); scalar inputs give Python scalars back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from siting.errors import ConfigError

__all__ = [
    "CAPACITY_TABLE_MW",
    "CONNECTION_HX_CAPEX_EUR_PER_MW",
    "CONNECTION_PUMPS_CAPEX_EUR_PER_MW",
    "DESIGN_VELOCITY_M_S",
    "HX_STATION_LOSS",
    "INNER_DIAMETER_M",
    "PUMPING_ELECTRICITY_FRACTION",
    "STANDARD_DN",
    "STREET_CLASS_MULTIPLIER",
    "TRENCH_COST_TABLE",
    "WATER_CP_J_KG_K",
    "WATER_DENSITY_KG_M3",
    "connection_station_capex_eur",
    "loss_fraction_per_km",
    "pipe_capacity_mw",
    "select_dn",
    "select_pipe",
    "street_multiplier",
    "trench_cost_eur_per_m",
]

STANDARD_DN: tuple[int, ...] = (100, 150, 200, 250, 300, 400, 500, 600)
# Inner diameters of EN 253 pre-insulated steel service pipes (outer x wall, mm): 114.3x3.6,
# 168.3x4.0, 219.1x4.5, 273.0x5.0, 323.9x5.6, 406.4x6.3, 508.0x6.3, 610.0x6.3. With these the
# physics formula reproduces the docs/model.md s4 table within ~1.2 %.
INNER_DIAMETER_M: dict[int, float] = {
    100: 0.1071,
    150: 0.1603,
    200: 0.2101,
    250: 0.2630,
    300: 0.3127,
    400: 0.3938,
    500: 0.4954,
    600: 0.5974,
}
# Water at ~60 degC (between 75 supply and 40 return): density and specific heat.
WATER_DENSITY_KG_M3 = 983.0
WATER_CP_J_KG_K = 4185.0
DESIGN_VELOCITY_M_S = 2.0  # docs/model.md s4
# docs/model.md s4 [D]: capacity [MW] at 2 m/s by delta T [K] -> {DN: MW}.
CAPACITY_TABLE_MW: dict[int, dict[int, float]] = {
    30: {100: 2.2, 150: 5.0, 200: 8.6, 250: 13.5, 300: 19.0, 400: 30.0, 500: 48.0, 600: 69.0},
    40: {100: 3.0, 150: 6.7, 200: 11.4, 250: 17.9, 300: 25.0, 400: 40.0, 500: 64.0, 600: 92.0},
}
# Hotmaps transmission trench cost by capacity, 2015 EUR per metre [V S28]: (MW, EUR/m).
TRENCH_COST_TABLE: tuple[tuple[float, float], ...] = (
    (1.9, 261.0),
    (6.1, 323.0),
    (9.8, 357.0),
    (20.0, 426.0),
    (45.0, 564.0),
    (125.0, 839.0),
)
# DEA transmission losses [V S27].
LOSS_PER_KM_SMALL = 0.03  # lines below 20 MW (DEA quotes 1-20 MW; also used below 1 MW)
LOSS_PER_KM_MEDIUM = 0.01  # 20-100 MW inclusive
LOSS_PER_KM_LARGE = 0.005  # above 100 MW
HX_STATION_LOSS = 0.05  # [V S27] heat-exchanger station
PUMPING_ELECTRICITY_FRACTION = 0.02  # [V S27] of the energy carried
CONNECTION_HX_CAPEX_EUR_PER_MW = 100_000.0  # [V S28]
CONNECTION_PUMPS_CAPEX_EUR_PER_MW = 90_000.0  # [V S28]
# Trench-cost multiplier by OSM highway=* class [D: DEA paved vs Hotmaps ~2.8x], docs/model.md s4.
STREET_CLASS_MULTIPLIER: dict[str, float] = {
    "motorway": 2.5,
    "motorway_link": 2.5,
    "trunk": 2.5,
    "trunk_link": 2.5,
    "primary": 2.0,
    "primary_link": 2.0,
    "secondary": 2.0,
    "secondary_link": 2.0,
    "tertiary": 1.5,
    "tertiary_link": 1.5,
    "residential": 1.5,
    "unclassified": 1.5,
    "living_street": 1.5,
    "service": 1.0,
    "track": 1.0,
    "unpaved": 1.0,
}
STREET_DEFAULT_MULTIPLIER = 1.5


def _out(x: NDArray[Any]) -> Any:
    """Return a Python scalar for 0-d results."""
    x = np.asarray(x)
    return x.item() if x.ndim == 0 else x


def _nonneg(name: str, value: ArrayLike, fix: str) -> NDArray[np.float64]:
    v = np.asarray(value, dtype=float)
    ok = np.isfinite(v) & (v >= 0)
    if not np.all(ok):
        raise ConfigError(
            f"{name}={v[~ok].ravel()[0].item()!r} is invalid: it must be finite and >= 0. {fix}"
        )
    return v


def _positive(name: str, value: ArrayLike, fix: str) -> NDArray[np.float64]:
    v = np.asarray(value, dtype=float)
    ok = np.isfinite(v) & (v > 0)
    if not np.all(ok):
        raise ConfigError(
            f"{name}={v[~ok].ravel()[0].item()!r} is invalid: it must be finite and > 0. {fix}"
        )
    return v


def _capacity_per_m2_mw(delta_t_k: ArrayLike, velocity_m_s: ArrayLike) -> NDArray[np.float64]:
    """rho * cp * v * dT * pi/4 in MW per m^2 of D_i^2."""
    dt = _positive("delta_t_k", delta_t_k, "Give supply minus return temperature in K, e.g. 35.")
    v = _positive("velocity_m_s", velocity_m_s, f"Design velocity, default {DESIGN_VELOCITY_M_S}.")
    return WATER_DENSITY_KG_M3 * WATER_CP_J_KG_K * v * dt * (np.pi / 4.0) / 1e6


def pipe_capacity_mw(
    dn: ArrayLike, delta_t_k: ArrayLike, velocity_m_s: ArrayLike = DESIGN_VELOCITY_M_S
) -> Any:
    """Heat a pipe carries: ``P = rho * c_p * v * pi * D_i^2 / 4 * dT`` [MW] (docs/model.md s4).

    Parameters
    ----------
    dn : int or array of int
        Nominal diameter, one of :data:`STANDARD_DN`.
    delta_t_k : float or array
        Supply minus return temperature [K].
    velocity_m_s : float or array, default 2.0
    """
    dn_a = np.asarray(dn)
    unknown = ~np.isin(dn_a, STANDARD_DN)
    if np.any(unknown):
        raise ConfigError(
            f"dn={dn_a[unknown].ravel()[0].item()!r} is not a standard pipe size: "
            f"use one of {STANDARD_DN}."
        )
    d_i = np.vectorize(INNER_DIAMETER_M.__getitem__, otypes=[float])(dn_a.astype(int))
    return _out(_capacity_per_m2_mw(delta_t_k, velocity_m_s) * d_i**2)


def select_pipe(
    peak_mw: ArrayLike,
    delta_t_k: ArrayLike = 35.0,
    velocity_m_s: ArrayLike = DESIGN_VELOCITY_M_S,
) -> tuple[Any, Any]:
    """Smallest standard DN carrying the peak, and how many such pipes run in parallel.

    Returns ``(dn, n_parallel)``. ``n_parallel`` is 1 whenever one pipe of at most DN600 carries
    the peak (capacity >= peak). Above DN600 capacity the result is ``(600, ceil(peak / cap600))``:
    several DN600 lines in parallel, never an error, so a batch of thousands of sites is not
    stopped by one large site. A peak of 0 gives the smallest DN. Negative or non-finite peaks
    raise :class:`ConfigError`.
    """
    peak = _nonneg("peak_mw", peak_mw, "Give the peak delivered heat in MW.")
    per_m2 = _capacity_per_m2_mw(delta_t_k, velocity_m_s)
    d_i = np.array([INNER_DIAMETER_M[d] for d in STANDARD_DN])
    peak, per_m2 = np.broadcast_arrays(peak, per_m2)
    caps = per_m2[..., None] * d_i**2  # (..., n_dn), increasing along the last axis
    # Tiny relative tolerance so a peak equal to a computed capacity is carried by that DN.
    fits = caps >= peak[..., None] * (1 - 1e-12)
    idx = np.where(fits.any(axis=-1), fits.argmax(axis=-1), len(STANDARD_DN) - 1)
    dn = np.asarray(STANDARD_DN)[idx]
    n_par = np.where(fits.any(axis=-1), 1, np.ceil(peak / caps[..., -1] * (1 - 1e-12)).astype(int))
    return _out(dn), _out(n_par)


def select_dn(
    peak_mw: ArrayLike,
    delta_t_k: ArrayLike = 35.0,
    velocity_m_s: ArrayLike = DESIGN_VELOCITY_M_S,
) -> Any:
    """Smallest standard DN whose capacity at ``velocity_m_s`` carries ``peak_mw``
    (docs/model.md s4).

    Returns an ``int`` (or int array). Peaks above DN600 capacity return 600; call
    :func:`select_pipe` to get the number of parallel DN600 lines needed.
    """
    return select_pipe(peak_mw, delta_t_k, velocity_m_s)[0]


def trench_cost_eur_per_m(capacity_mw: ArrayLike) -> Any:
    """Transmission trench cost [2015 EUR/m] from the Hotmaps table (docs/model.md s4, [V S28]).

    Linear interpolation on capacity between 1.9 and 125 MW; flat (end value) outside. Multiply by
    :func:`street_multiplier` for paved urban routes.
    """
    cap = _nonneg("capacity_mw", capacity_mw, "Give the pipe's design capacity in MW.")
    xs, ys = zip(*TRENCH_COST_TABLE, strict=True)
    return _out(np.interp(cap, xs, ys))


def loss_fraction_per_km(capacity_mw: ArrayLike) -> Any:
    """Heat loss per km as a fraction of heat carried (DEA, docs/model.md s4, [V S27]).

    0.03 below 20 MW, 0.01 from 20 to 100 MW inclusive, 0.005 above 100 MW.
    """
    cap = _nonneg("capacity_mw", capacity_mw, "Give the pipe's design capacity in MW.")
    return _out(
        np.select(
            [cap < 20.0, cap <= 100.0],
            [LOSS_PER_KM_SMALL, LOSS_PER_KM_MEDIUM],
            default=LOSS_PER_KM_LARGE,
        )
    )


def connection_station_capex_eur(capacity_mw: ArrayLike) -> Any:
    """CAPEX of the connection station at the network: heat exchanger + pumps [EUR] ([V S28]).

    ``(100,000 + 90,000) EUR/MW * capacity_mw``.
    """
    cap = _nonneg("capacity_mw", capacity_mw, "Give the station capacity in MW.")
    return _out((CONNECTION_HX_CAPEX_EUR_PER_MW + CONNECTION_PUMPS_CAPEX_EUR_PER_MW) * cap)


def _one_multiplier(value: Any, table: Mapping[str, float], default: float) -> float:
    """Multiplier for one OSM highway value: str, 'a;b' string, list/tuple of str, None or NaN."""
    if value is None:
        return default
    if isinstance(value, float) and np.isnan(value):
        return default
    if isinstance(value, str):
        parts: Iterable[Any] = value.split(";")
    elif isinstance(value, Iterable):
        parts = value
    else:
        return default
    found = [
        table[p.strip().lower()] for p in parts if isinstance(p, str) and p.strip().lower() in table
    ]
    # A way tagged with several classes (osmnx merges edges into lists) pays the dearest one:
    # the trench has to cross the most expensive surface along it.
    return max(found) if found else default


def street_multiplier(
    highway_values: Any,
    table: Mapping[str, float] | None = None,
    default: float = STREET_DEFAULT_MULTIPLIER,
) -> Any:
    """Trench-cost multiplier for each OSM ``highway=*`` value (docs/model.md s4).

    Parameters
    ----------
    highway_values : str, None, or sequence/array/Series of those or of lists of str
        One value per street edge. Lists (osmnx merged edges) and ``"a;b"`` strings take the
        highest multiplier of their known classes. None, NaN and unknown classes get ``default``.
    table : mapping, optional
        Class -> multiplier; defaults to :data:`STREET_CLASS_MULTIPLIER`. Keys are lower case.
    default : float, default 1.5

    Returns
    -------
    float for a single str/None, else float ndarray of the same length.
    """
    tbl = STREET_CLASS_MULTIPLIER if table is None else {k.lower(): v for k, v in table.items()}
    if highway_values is None or isinstance(highway_values, str):
        return _one_multiplier(highway_values, tbl, default)
    values = list(highway_values)
    return np.fromiter(
        (_one_multiplier(v, tbl, default) for v in values), dtype=float, count=len(values)
    )
