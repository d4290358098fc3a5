"""How many homes a quantity of heat serves, at a named Danish standard (docs/model.md §6).

"Homes served" = delivered heat / heat per home. The heat per home is a *standard*, and claims
made with different standards are not comparable, so every result comes with the label of the
standard it used. Pure numpy; no geo library.

Standards [V S30] (installator.dk, hvacfokus.dk; docs/model.md §6 and §8.2):

* ``dk_house_2025``: Danish standard house from 2025, 14.0 MWh/yr on 125 m² (112 kWh/m²).
* ``dk_house_legacy``: the standard house of the district-heating price statistics used in
  claims 2017-2024, 18.1 MWh/yr on 130 m² (139 kWh/m²).
* ``dk_flat``: Danish standard flat, 7.8 MWh/yr.

A positive number instead of a name is a custom standard (MWh/yr per home).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from siting.errors import ConfigError

__all__ = [
    "DEFAULT_STANDARD",
    "HOME_STANDARDS",
    "HomeStandard",
    "flats_served",
    "homes_at_standard",
    "resolve_standard",
]


@dataclass(frozen=True)
class HomeStandard:
    """Annual heat of one standard home.

    Attributes
    ----------
    mwh_per_yr : heat per home and year [MWh/yr].
    floor_area_m2 : the home's BBR floor area [m²], or None where the source gives none.
    label : text for reports, naming the standard and its figure.
    source : citation key in docs/model.md.
    """

    mwh_per_yr: float
    floor_area_m2: float | None
    label: str
    source: str


HOME_STANDARDS: dict[str, HomeStandard] = {
    "dk_house_2025": HomeStandard(
        14.0, 125.0, "Danish standard house 2025 (14.0 MWh/yr, 125 m²)", "[V S30]"
    ),
    "dk_house_legacy": HomeStandard(
        18.1, 130.0, "Danish standard house 2017-2024 claims (18.1 MWh/yr, 130 m²)", "[V S30]"
    ),
    "dk_flat": HomeStandard(7.8, None, "Danish standard flat (7.8 MWh/yr)", "[V S30]"),
}
DEFAULT_STANDARD = "dk_house_2025"


def resolve_standard(standard: str | float = DEFAULT_STANDARD) -> tuple[float, str]:
    """Heat per home [MWh/yr] and the label of a named or custom standard.

    Parameters
    ----------
    standard
        A key of :data:`HOME_STANDARDS` or a positive number of MWh/yr per home.

    Returns
    -------
    (mwh_per_home, label)
    """
    if isinstance(standard, str):
        key = standard.strip().lower()
        if key not in HOME_STANDARDS:
            raise ConfigError(
                f"unknown homes standard {standard!r}; use one of "
                f"{', '.join(HOME_STANDARDS)} or a number of MWh/yr per home."
            )
        s = HOME_STANDARDS[key]
        return s.mwh_per_yr, s.label
    try:
        value = float(standard)
    except (TypeError, ValueError):
        value = float("nan")
    if not (np.isfinite(value) and value > 0):
        raise ConfigError(
            f"homes standard {standard!r} must be a name ({', '.join(HOME_STANDARDS)}) or a "
            "finite number of MWh/yr per home > 0."
        )
    return value, f"custom standard ({value:g} MWh/yr per home)"


def homes_at_standard(
    delivered_mwh_per_yr: ArrayLike, standard: str | float = DEFAULT_STANDARD
) -> tuple[Any, str]:
    """Whole homes the delivered heat covers at a standard, and the standard's label.

    Parameters
    ----------
    delivered_mwh_per_yr
        Heat delivered to homes [MWh/yr], finite and >= 0 (scalar or array).
    standard
        ``"dk_house_2025"`` (default, 14.0), ``"dk_house_legacy"`` (18.1), ``"dk_flat"`` (7.8)
        or a custom number of MWh/yr per home.

    Returns
    -------
    (homes, label)
        ``floor(delivered / heat per home)`` (float, or array of floats, like the input) and
        the label to print beside it.
    """
    per_home, label = resolve_standard(standard)
    return _whole(delivered_mwh_per_yr, per_home), label


def flats_served(delivered_mwh_per_yr: ArrayLike) -> Any:
    """Whole Danish standard flats (7.8 MWh/yr each [V S30]) the delivered heat covers.

    Parameters
    ----------
    delivered_mwh_per_yr
        Heat delivered [MWh/yr], finite and >= 0 (scalar or array).

    Returns
    -------
    float or numpy.ndarray
        ``floor(delivered / 7.8)``.
    """
    return _whole(delivered_mwh_per_yr, HOME_STANDARDS["dk_flat"].mwh_per_yr)


def _whole(delivered_mwh_per_yr: ArrayLike, per_home_mwh: float) -> Any:
    e = np.asarray(delivered_mwh_per_yr, dtype=float)
    bad = ~(np.isfinite(e) & (e >= 0))
    if bad.any():
        raise ConfigError(
            f"delivered heat must be finite and >= 0 MWh/yr; got {e[bad].ravel()[0].item()!r}."
        )
    homes = np.floor(e / per_home_mwh)
    return homes.item() if homes.ndim == 0 else homes
