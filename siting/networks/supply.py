"""Hourly must-run supply of a network: the heat a data center cannot displace. Pure numpy.

docs/model.md §8.4: waste incineration and fuel-free surplus heat serve the load first, flat over
the year and capped by demand [M]; solar heat follows a monthly profile [M]; the data center
competes for the rest (``demand - must_run``). Heat above the demand in an hour is curtailed
(cooled away or stored elsewhere), not carried to later hours.

Solar monthly profile: shares of the year's global horizontal radiation measured at
Højbakkegård, Taastrup (DK), 2014-2018 (../shared/data/weather/dk_taastrup_hourly_2014_2018.dwf,
mean 1,061 kWh/m²/yr) [D]. Collector output is taken proportional to radiation, spread evenly
over the hours of each month (Danish solar DH plants run with storage) [M]; real collectors lose
relatively more in winter, so winter solar is slightly overstated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from siting.errors import ConfigError, InputDataError

__all__ = [
    "SOLAR_MONTHLY_SHARE_DK",
    "MustRunProducer",
    "month_of_hour",
    "must_run_profile_mw",
]

# [D] Taastrup 2014-2018 global radiation, share per month (Jan..Dec); sums to 1.
SOLAR_MONTHLY_SHARE_DK: tuple[float, ...] = (
    0.0126,
    0.0311,
    0.0665,
    0.1156,
    0.1656,
    0.1645,
    0.1610,
    0.1290,
    0.0859,
    0.0401,
    0.0183,
    0.0098,
)
_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@dataclass(frozen=True)
class MustRunProducer:
    """A must-run producer the user lists (a waste plant, industrial surplus heat, solar field).

    Give exactly one of ``mw`` (output in every hour the demand allows) or ``mwh_per_yr``
    (spread flat over the year, or by ``monthly_share``: 12 shares summing to 1, e.g.
    :data:`SOLAR_MONTHLY_SHARE_DK`).
    """

    name: str
    mw: float | None = None
    mwh_per_yr: float | None = None
    monthly_share: Sequence[float] | None = None

    def __post_init__(self) -> None:
        given = [v for v in (self.mw, self.mwh_per_yr) if v is not None]
        if len(given) != 1:
            raise ConfigError(
                f"must-run producer {self.name!r}: give exactly one of mw or mwh_per_yr."
            )
        if not (math.isfinite(given[0]) and given[0] >= 0):
            raise ConfigError(
                f"must-run producer {self.name!r}: output must be >= 0, got {given[0]!r}."
            )
        if self.monthly_share is not None and self.mw is not None:
            raise ConfigError(
                f"must-run producer {self.name!r}: monthly_share applies to mwh_per_yr only."
            )


def month_of_hour(n_hours: int) -> NDArray[np.int64]:
    """Month (0-11) of each hour of a year starting 1 January 00:00 (8760 h, or 8784 leap)."""
    if n_hours not in (8760, 8784):
        raise InputDataError(
            f"a year has 8760 or 8784 hours, got {n_hours}; pass month= (0-11 per hour) for "
            "other series."
        )
    days = list(_DAYS)
    if n_hours == 8784:
        days[1] = 29
    return np.repeat(np.arange(12), np.asarray(days) * 24).astype(np.int64)


def must_run_profile_mw(
    must_run_mwh_per_yr: float,
    demand_mw_hourly: ArrayLike,
    solar_mwh_per_yr: float = 0.0,
    *,
    solar_monthly_share: Sequence[float] = SOLAR_MONTHLY_SHARE_DK,
    producers: Sequence[MustRunProducer] = (),
    month: ArrayLike | None = None,
) -> NDArray[np.float64]:
    """Hourly must-run supply (MW), capped by the network's demand in each hour.

    Parameters
    ----------
    must_run_mwh_per_yr
        Heat from waste incineration and fuel-free surplus heat over the year (registry
        ``must_run_mwh_per_yr``), delivered flat: ``must_run_mwh_per_yr / hours`` MW.
    demand_mw_hourly
        The network's hourly heat demand, MW (length 8760 or 8784 unless ``month`` is given).
    solar_mwh_per_yr
        Solar heat over the year, spread by ``solar_monthly_share``, flat within each month.
    solar_monthly_share
        12 shares (Jan..Dec) summing to 1; default :data:`SOLAR_MONTHLY_SHARE_DK`.
    producers
        Extra must-run producers listed by the user (:class:`MustRunProducer`).
    month
        Month (0-11) of each hour, for series that are not one calendar year from 1 January.

    Returns
    -------
    numpy.ndarray
        Must-run MW per hour, ``0 <= must_run <= demand``. The data center competes for
        ``demand - must_run``. Annual must-run above the demand is curtailed: compare
        ``sum(result)`` with the inputs to see how much.
    """
    demand = np.asarray(demand_mw_hourly, dtype=float)
    if demand.ndim != 1 or demand.size == 0:
        raise InputDataError("demand_mw_hourly must be a non-empty 1-D series of MW per hour.")
    if not np.isfinite(demand).all() or (demand < 0).any():
        raise InputDataError("demand_mw_hourly must be finite and >= 0 in every hour.")
    n = demand.size
    for name, value in (
        ("must_run_mwh_per_yr", must_run_mwh_per_yr),
        ("solar_mwh_per_yr", solar_mwh_per_yr),
    ):
        if not (math.isfinite(value) and value >= 0):
            raise ConfigError(f"{name} must be a finite number of MWh/yr >= 0, got {value!r}.")
    months = month_of_hour(n) if month is None else np.asarray(month, dtype=np.int64)
    if months.shape != (n,) or months.min() < 0 or months.max() > 11:
        raise InputDataError(f"month must hold one value 0-11 per hour ({n} hours).")
    # MW, not MWh: a series shorter than a year gets the same MW in each hour it covers
    hours_per_yr = 8784.0 if n == 8784 else 8760.0
    month_hours = np.asarray(_DAYS, dtype=float) * 24.0
    if n == 8784:
        month_hours[1] += 24.0

    supply = np.full(n, must_run_mwh_per_yr / hours_per_yr)
    if solar_mwh_per_yr > 0:
        supply += _monthly(solar_mwh_per_yr, solar_monthly_share, months, month_hours)
    for p in producers:
        if p.mw is not None:
            supply += p.mw
        elif p.monthly_share is not None:
            supply += _monthly(p.mwh_per_yr, p.monthly_share, months, month_hours)
        else:
            supply += p.mwh_per_yr / hours_per_yr
    return np.minimum(supply, demand)


def _monthly(
    mwh: float, share: Sequence[float], months: NDArray[np.int64], month_hours: NDArray[np.float64]
) -> NDArray[np.float64]:
    """MW per hour: ``mwh`` per year split by 12 monthly shares, flat within each month."""
    s = np.asarray(share, dtype=float)
    if s.shape != (12,) or not np.isfinite(s).all() or (s < 0).any():
        raise ConfigError("a monthly share needs 12 finite values >= 0 (Jan..Dec).")
    if not math.isclose(s.sum(), 1.0, abs_tol=1e-3):
        raise ConfigError(f"monthly shares must sum to 1, got {s.sum():.4f}.")
    return (s * mwh / month_hours)[months]
