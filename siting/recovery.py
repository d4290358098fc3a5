"""Heat recovery from a data center and the heat pump that lifts it to network temperature.

Implements docs/model.md sections 1-3 and the practical heat pump of s8.1 (direct exchange, preheat
exchanger, refrigerant-side pinch, COP cap). Pure numpy: every function accepts scalars or
arrays (one value per candidate site) and broadcasts; scalar inputs give Python ``float`` (or
``bool``) results.

Temperatures are in degrees Celsius in argument names ending ``_c`` and in kelvin where the name
ends ``_k``. Powers are MW, energies MWh.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from siting.errors import ConfigError

__all__ = [
    "ABSOLUTE_ZERO_C",
    "APPROACH_K",
    "CAPTURE_FRACTION_AIR_COIL",
    "CAPTURE_FRACTION_DLC",
    "CAPTURE_FRACTION_IMMERSION",
    "COP_MAX",
    "ENEFG_ERF_THRESHOLDS",
    "enefg_flags",
    "ETA_LORENZ",
    "ETA_PRACTICAL",
    "HOURS_PER_YR",
    "JESPER_DT_MAX_K",
    "JESPER_DT_MIN_K",
    "JESPER_SINK_MAX_C",
    "MWH_PER_HOME_DK_2025",
    "MWH_PER_HOME_DK_LEGACY",
    "MWH_PER_FLAT_DK",
    "PINCH_K",
    "PUE",
    "UTILISATION_ANNUAL",
    "UTILISATION_IT",
    "HeatPumpOperation",
    "ModelRangeWarning",
    "RecoveryResult",
    "annual_recovery",
    "carnot_cop",
    "heat_pump_operation",
    "homes_served",
    "jesper_cop",
    "log_mean_temp_k",
    "lorenz_cop",
    "practical_cop",
]

ABSOLUTE_ZERO_C = -273.15

# Defaults, tagged as in docs/model.md ([V] read in source, [D] derived, [M] engineering default).
CAPTURE_FRACTION_AIR_COIL = 0.95  # [M] 0.85-0.97, docs/model.md s1
CAPTURE_FRACTION_DLC = 0.80  # [M] 0.7-0.9, docs/model.md s1
CAPTURE_FRACTION_IMMERSION = 0.95  # [M] docs/model.md s1
UTILISATION_IT = 0.8  # [M] share of IT nameplate drawn on average, docs/model.md s1
PUE = 1.2  # [M] docs/model.md s1
ETA_LORENZ = 0.50  # [D from V S26] 0.40-0.55, docs/model.md s2
UTILISATION_ANNUAL = 0.75  # [V S13] share of available heat the network takes, docs/model.md s3
HOURS_PER_YR = 8760.0
JESPER_DT_MIN_K = 10.0  # [V S25] validity range of the Jesper et al. 2021 regression
JESPER_DT_MAX_K = 78.0  # [V S25]
JESPER_SINK_MAX_C = 100.0  # [V S25] regression fitted for sink <= 100 degC
MWH_PER_HOME_DK_2025 = 14.0  # [V S30] Danish standard house, 125 m2
MWH_PER_FLAT_DK = 7.8  # [V S30]
MWH_PER_HOME_DK_LEGACY = 18.1  # [V S30] used in claims 2017-2024, 130 m2
# EnEfG s11 ERF levels for data centers opening from Jul 2026 / Jul 2027 / Jul 2028 [V S35].
ENEFG_ERF_THRESHOLDS = {2026: 0.10, 2027: 0.15, 2028: 0.20}
# Practical heat pump, docs/model.md s8.1.
APPROACH_K = 3.0  # [M] water-to-water exchanger approach: direct exchange / preheat limit
PINCH_K = 4.0  # [M] 3-5 K refrigerant-side pinch: evaporate below the source, condense above sink
COP_MAX = 7.0  # [M] 6-8, practical ceiling of large heat pumps (best ~5.8 at a 40 K lift)
# [D from V S26] Lorenz efficiency at the pinch-shifted mean temperatures, fitted to the DEA
# reference heat pump alone (25->15 / 35->70 degC, COP 5.0 -> 0.6105 at PINCH_K 4). Kajaani
# (30->20 / 50->85 degC, measured 4.35 [V S24]) is held back as the check: the model gives 4.19.
ETA_PRACTICAL = 0.61
# Fixed-point steps for the series arrangement (evaporator inlet depends on the COP and the
# preheat split, which depend on it); 5 steps converge to < 1e-6 relative in the COP.
_SERIES_ITERATIONS = 5


class Record:
    """Mixin for the model's result dataclasses: ``result["field"]`` and ``to_dict()``.

    Fields listed in ``_not_in_dict`` (e.g. large hourly arrays) stay out of the dict.
    """

    _not_in_dict: tuple[str, ...] = ()

    def __getitem__(self, key: str) -> Any:
        if key not in self.__dataclass_fields__:
            raise KeyError(key)
        return getattr(self, key)

    def to_dict(self) -> dict[str, Any]:
        """All fields as a ``dict`` (same keys as the attribute names)."""
        return {
            f.name: getattr(self, f.name) for f in fields(self) if f.name not in self._not_in_dict
        }


class ModelRangeWarning(UserWarning):
    """An input lies outside the range a correlation was fitted on; the result is extrapolated."""


def _out(x: NDArray[Any]) -> Any:
    """Return a Python scalar for 0-d results so scalar callers get plain floats/bools."""
    x = np.asarray(x)
    if x.ndim == 0:
        return x.item()
    return x


def _temps_k(name: str, t_c: ArrayLike) -> NDArray[np.float64]:
    """Convert degC to K, rejecting NaN and anything at or below absolute zero."""
    t = np.asarray(t_c, dtype=float)
    if np.any(np.isnan(t)) or np.any(t <= ABSOLUTE_ZERO_C):
        bad = t[np.isnan(t) | (t <= ABSOLUTE_ZERO_C)].ravel()[0].item()
        raise ConfigError(
            f"{name}={bad!r} degC is not a valid temperature: it must be a number above "
            f"{ABSOLUTE_ZERO_C} degC. Give temperatures in degrees Celsius."
        )
    return t - ABSOLUTE_ZERO_C


def _log_mean_k(a_k: NDArray[np.float64], b_k: NDArray[np.float64]) -> NDArray[np.float64]:
    """Logarithmic mean of two absolute temperatures (both > 0 K)."""
    a_k, b_k = np.broadcast_arrays(a_k, b_k)
    diff = a_k - b_k
    # (a-b)/ln(a/b) is 0/0 at a == b; the arithmetic mean equals the log mean to O(x^2) with
    # x = (a-b)/b, so below 1e-9 relative difference it is exact to machine precision.
    near = np.abs(diff) <= 1e-9 * np.abs(b_k)
    with np.errstate(divide="ignore", invalid="ignore"):
        # log1p keeps precision when a/b is close to 1.
        lm = diff / np.log1p(diff / b_k)
    return np.where(near, 0.5 * (a_k + b_k), lm)


def log_mean_temp_k(t_in_c: ArrayLike, t_out_c: ArrayLike) -> Any:
    """Logarithmic mean temperature of a stream, in kelvin (docs/model.md s2).

    Parameters
    ----------
    t_in_c, t_out_c : float or array
        Stream inlet and outlet temperatures [degC]. Order does not matter.

    Returns
    -------
    float or ndarray
        ``(T_in - T_out) / ln(T_in / T_out)`` in K; ``T_in`` when the two are equal.
    """
    a = _temps_k("t_in_c", t_in_c)
    b = _temps_k("t_out_c", t_out_c)
    return _out(_log_mean_k(a, b))


def _stream_means_k(
    source_in_c: ArrayLike,
    source_out_c: ArrayLike,
    sink_in_c: ArrayLike,
    sink_out_c: ArrayLike,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Validate the four stream temperatures and return (Tm_source, Tm_sink) in K."""
    s_in = _temps_k("source_in_c", source_in_c)
    s_out = _temps_k("source_out_c", source_out_c)
    k_in = _temps_k("sink_in_c", sink_in_c)
    k_out = _temps_k("sink_out_c", sink_out_c)
    if np.any(s_in < s_out):
        raise ConfigError(
            "source_in_c is below source_out_c: the data-center cooling water is cooled by the "
            "heat pump, so source_in_c (e.g. 27) must be >= source_out_c (e.g. 17). "
            "Swap the two values."
        )
    if np.any(k_out < k_in):
        raise ConfigError(
            "sink_out_c is below sink_in_c: sink_in_c is the district-heating return (e.g. 40) and "
            "sink_out_c the supply (e.g. 75), so sink_out_c must be >= sink_in_c. "
            "Swap the two values."
        )
    return _log_mean_k(s_in, s_out), _log_mean_k(k_out, k_in)


def carnot_cop(
    source_in_c: ArrayLike,
    source_out_c: ArrayLike,
    sink_in_c: ArrayLike,
    sink_out_c: ArrayLike,
) -> Any:
    """Ideal (Lorenz/Carnot) heating COP at the log-mean stream temperatures.

    ``COP = Tm_sink / (Tm_sink - Tm_src)``; ``inf`` when ``Tm_sink <= Tm_src`` (no lift needed).
    This is the bound the real-cycle COP of :func:`lorenz_cop` may never exceed.
    """
    tm_src, tm_sink = _stream_means_k(source_in_c, source_out_c, sink_in_c, sink_out_c)
    lift = tm_sink - tm_src
    with np.errstate(divide="ignore", invalid="ignore"):
        cop = tm_sink / lift
    return _out(np.where(lift > 0, cop, np.inf))


def lorenz_cop(
    source_in_c: ArrayLike,
    source_out_c: ArrayLike,
    sink_in_c: ArrayLike,
    sink_out_c: ArrayLike,
    eta: ArrayLike = ETA_LORENZ,
) -> Any:
    """Heat-pump heating COP from the Lorenz efficiency (docs/model.md s2).

    Parameters
    ----------
    source_in_c, source_out_c : float or array
        Data-center cooling water entering / leaving the heat pump evaporator [degC]
        (``source_in_c >= source_out_c``).
    sink_in_c, sink_out_c : float or array
        District-heating return (``sink_in_c``) and supply (``sink_out_c``) [degC].
    eta : float or array, default 0.5
        Lorenz efficiency in (0, 1].

    Returns
    -------
    float or ndarray
        ``eta * Tm_sink / (Tm_sink - Tm_src)``, clipped to the Carnot COP at the mean temperatures.
        ``inf`` where the sink mean temperature is at or below the source mean: the heat then goes
        in directly (heat exchanger, no heat pump, no electricity).

    Raises
    ------
    ConfigError
        ``eta`` outside (0, 1], source inlet below outlet, sink outlet below inlet, or a
        temperature at or below absolute zero.
    """
    eta_a = np.asarray(eta, dtype=float)
    if np.any(~(eta_a > 0) | ~(eta_a <= 1)):
        bad = eta_a[~(eta_a > 0) | ~(eta_a <= 1)].ravel()[0].item()
        raise ConfigError(
            f"eta={bad!r} is not a valid Lorenz efficiency: it must lie in (0, 1]. "
            f"Use the default {ETA_LORENZ} (typical range 0.40-0.55)."
        )
    tm_src, tm_sink = _stream_means_k(source_in_c, source_out_c, sink_in_c, sink_out_c)
    lift = tm_sink - tm_src
    with np.errstate(divide="ignore", invalid="ignore"):
        carnot = tm_sink / lift
    # eta <= 1 already keeps COP <= Carnot; the clip guards against round-off and documents intent.
    cop = np.minimum(eta_a * carnot, carnot)
    return _out(np.where(lift > 0, cop, np.inf))


def jesper_cop(source_in_c: ArrayLike, sink_out_c: ArrayLike) -> Any:
    """Conservative heat-pump COP from the Jesper et al. 2021 regression (docs/model.md s2, [V
    S25]).

    ``COP = 1.4480e12 * (dT + 177.46) ** -4.9460`` with ``dT = sink_out_c - source_in_c`` [K].

    The fit is valid for 10 <= dT <= 78 K and sink <= 100 degC. Outside that range the formula is
    still evaluated (extrapolated, not clipped) and one :class:`ModelRangeWarning` is issued per
    call naming how many values are out of range. Where ``dT <= 0`` no lift is needed and ``inf``
    is returned (direct heat exchange), consistent with :func:`lorenz_cop`.
    """
    s_in = _temps_k("source_in_c", source_in_c)
    k_out = _temps_k("sink_out_c", sink_out_c)
    dt = k_out - s_in
    outside = (dt > 0) & ((dt < JESPER_DT_MIN_K) | (dt > JESPER_DT_MAX_K))
    hot_sink = np.broadcast_to(k_out + ABSOLUTE_ZERO_C > JESPER_SINK_MAX_C, dt.shape)
    n_bad = int(np.count_nonzero(outside | hot_sink))
    if n_bad:
        warnings.warn(
            f"jesper_cop: {n_bad} value(s) outside the fitted range "
            f"(lift {JESPER_DT_MIN_K:g}-{JESPER_DT_MAX_K:g} K, "
            f"sink <= {JESPER_SINK_MAX_C:g} degC); "
            "the regression is extrapolated there. Use lorenz_cop for such temperatures.",
            ModelRangeWarning,
            stacklevel=2,
        )
    with np.errstate(invalid="ignore"):
        cop = 1.4480e12 * (dt + 177.46) ** -4.9460
    return _out(np.where(dt > 0, cop, np.inf))


def _check_practical(
    eta: ArrayLike, pinch_k: ArrayLike, cop_max: ArrayLike
) -> tuple[Any, Any, Any]:
    """Validate the practical-COP parameters; return them as float arrays."""
    eta_a = np.asarray(eta, dtype=float)
    if np.any(~(eta_a > 0) | ~(eta_a <= 1)):
        bad = eta_a[~(eta_a > 0) | ~(eta_a <= 1)].ravel()[0].item()
        raise ConfigError(
            f"eta={bad!r} is not a valid efficiency for practical_cop: it must lie in (0, 1]. "
            f"Use the default {ETA_PRACTICAL} (fitted to the DEA reference heat pump)."
        )
    pinch = np.asarray(pinch_k, dtype=float)
    if not np.all(np.isfinite(pinch) & (pinch >= 0)):
        raise ConfigError(
            f"pinch_k={pinch_k!r} must be a finite temperature difference >= 0 K; use "
            f"{PINCH_K} (typical 3-5 K)."
        )
    cmax = np.asarray(cop_max, dtype=float)
    if not np.all(np.isfinite(cmax) & (cmax > 1)):
        raise ConfigError(
            f"cop_max={cop_max!r} must be a finite COP > 1; use {COP_MAX} (range 6-8)."
        )
    return eta_a, pinch, cmax


def _practical_from_means(
    tm_src: NDArray[np.float64],
    tm_sink: NDArray[np.float64],
    eta: NDArray[np.float64],
    pinch: NDArray[np.float64],
    cop_max: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Practical COP from log-mean stream temperatures [K] (no validation)."""
    t_evap = tm_src - pinch
    t_cond = tm_sink + pinch
    lift = t_cond - t_evap
    stream_lift = tm_sink - tm_src
    with np.errstate(divide="ignore", invalid="ignore"):
        cop = np.where(lift > 0, eta * t_cond / lift, np.inf)
        carnot = np.where(stream_lift > 0, tm_sink / stream_lift, np.inf)
    # eta <= 1 with pinch >= 0 already stays below Carnot; the min documents and guards it.
    return np.minimum(np.minimum(cop, cop_max), carnot)


def practical_cop(
    source_in_c: ArrayLike,
    source_out_c: ArrayLike,
    sink_in_c: ArrayLike,
    sink_out_c: ArrayLike,
    *,
    eta: ArrayLike = ETA_PRACTICAL,
    pinch_k: ArrayLike = PINCH_K,
    cop_max: ArrayLike = COP_MAX,
) -> Any:
    """COP of a real heat pump between two water streams (docs/model.md s8.1), always finite.

    The refrigerant evaporates ``pinch_k`` below the source's log-mean temperature and condenses
    ``pinch_k`` above the sink's; ``eta`` is a Lorenz efficiency at those temperatures::

        COP = min(eta * T_cond / (T_cond - T_evap), cop_max, Carnot at the stream means)

    ``T_evap = Tm_source - pinch_k``, ``T_cond = Tm_sink + pinch_k`` (K). Unlike
    :func:`lorenz_cop` this never returns ``inf``: a machine with (almost) no lift runs at
    ``cop_max``. Whether a heat pump is needed at all (direct exchange, preheat) is decided by
    :func:`heat_pump_operation`, which calls this for the heat-pump part.

    Parameters
    ----------
    source_in_c, source_out_c : float or array
        Water entering / leaving the evaporator [degC] (in >= out).
    sink_in_c, sink_out_c : float or array
        Water entering / leaving the condenser [degC] (out >= in).
    eta : float or array, default 0.61
        Efficiency in (0, 1], fitted to the DEA reference heat pump (COP 5.0 at 25->15 / 35->70)
        with ``pinch_k`` 4 K; Kajaani (30->20 / 50->85, measured 4.35) gives 4.19.
    pinch_k : float or array, default 4.0
        Refrigerant-side temperature difference at evaporator and condenser [K], >= 0.
    cop_max : float or array, default 7.0
        Practical ceiling, > 1 (range 6-8).

    Returns
    -------
    float or ndarray
    """
    eta_a, pinch, cmax = _check_practical(eta, pinch_k, cop_max)
    tm_src, tm_sink = _stream_means_k(source_in_c, source_out_c, sink_in_c, sink_out_c)
    return _out(_practical_from_means(tm_src, tm_sink, eta_a, pinch, cmax))


@dataclass(frozen=True)
class HeatPumpOperation(Record):
    """How a source stream heats the network: direct exchange, preheat exchanger + heat pump, or
    heat pump alone (docs/model.md s8.1). Fields are floats/bools or arrays broadcast over the
    inputs.

    Arrangement: **series**. The data-center water passes the preheat exchanger first and then
    the evaporator; the network return passes the exchanger first and then the condenser.
    Heat and electricity fields are MW for the ``source_heat_mw`` given (default 1 MW of source
    heat, so they read as shares of it).
    """

    cop: Any  # delivered / electricity of the combination; inf for direct exchange
    cop_heat_pump: Any  # COP of the heat pump alone (practical_cop); nan for direct exchange
    direct: Any  # source_in >= supply + approach (and out >= return + approach): no electricity
    preheat_share: Any  # share of delivered heat made by the exchanger (1 direct, 0 none)
    preheat_to_c: Any  # network water leaving the exchanger (= sink_in without preheat)
    evaporator_in_c: Any  # source water entering the evaporator (nan for direct exchange)
    delivered_heat_mw: Any  # into the network
    exchanger_heat_mw: Any  # of which by the exchanger
    heat_pump_heat_mw: Any  # of which by the heat pump's condenser
    electricity_mw: Any  # heat-pump electricity
    arrangement: str = "series"


def heat_pump_operation(
    source_in_c: ArrayLike,
    source_out_c: ArrayLike,
    sink_in_c: ArrayLike,
    sink_out_c: ArrayLike,
    *,
    approach_k: ArrayLike = APPROACH_K,
    eta: ArrayLike = ETA_PRACTICAL,
    pinch_k: ArrayLike = PINCH_K,
    cop_max: ArrayLike = COP_MAX,
    source_heat_mw: ArrayLike = 1.0,
) -> HeatPumpOperation:
    """Direct exchange, preheat + heat pump, or heat pump alone, and the combined COP (s8.1).

    * **Direct exchange** where ``source_in_c >= sink_out_c + approach_k`` (and the exchanger's
      cold end holds too, ``source_out_c >= sink_in_c + approach_k``, true for any real
      network return): the exchanger heats the whole flow to supply, no electricity (``cop``
      inf).
    * **Preheat** where ``source_in_c - approach_k > sink_in_c``: the exchanger lifts the return
      from ``sink_in_c`` to ``min(sink_out_c, source_in_c - approach_k)`` and the heat pump the
      rest. In series the exchanger cools the source water first, so the evaporator sees it
      from ``evaporator_in_c`` down to ``source_out_c``; that temperature depends on the split,
      found by a few fixed-point steps. The exchanger's cold end also keeps ``approach_k``
      (source leaving it >= ``sink_in_c + approach_k``), which limits the preheat when the
      source stream's temperature drop is large against the network's.
    * Otherwise the heat pump alone (:func:`practical_cop`).

    Combined: ``cop = cop_heat_pump / (1 - preheat_share)`` (electricity only for the heat
    pump's part), capped at the Carnot COP of the overall streams; finite unless direct.

    Parameters
    ----------
    source_in_c, source_out_c : float or array
        Data-center water to / from the recovery plant [degC].
    sink_in_c, sink_out_c : float or array
        Network return and supply [degC].
    approach_k : float or array, default 3.0
        Minimum temperature difference of the water-to-water exchanger [K], >= 0.
    eta, pinch_k, cop_max
        As for :func:`practical_cop`.
    source_heat_mw : float or array, default 1.0
        Source heat used [MW]; scales the heat and electricity fields.

    Returns
    -------
    HeatPumpOperation
    """
    eta_a, pinch, cmax = _check_practical(eta, pinch_k, cop_max)
    approach = np.asarray(approach_k, dtype=float)
    if not np.all(np.isfinite(approach) & (approach >= 0)):
        raise ConfigError(
            f"approach_k={approach_k!r} must be a finite temperature difference >= 0 K; use "
            f"{APPROACH_K}."
        )
    q_src = np.asarray(source_heat_mw, dtype=float)
    if not np.all(np.isfinite(q_src) & (q_src >= 0)):
        raise ConfigError("source_heat_mw must be finite and >= 0 (MW of source heat).")
    _stream_means_k(source_in_c, source_out_c, sink_in_c, sink_out_c)  # validates order/values
    s_in, s_out, r, s, approach, eta_a, pinch, cmax = np.broadcast_arrays(
        *(np.asarray(x, dtype=float) for x in (source_in_c, source_out_c, sink_in_c, sink_out_c)),
        approach,
        eta_a,
        pinch,
        cmax,
    )
    # Both ends of the counterflow exchanger keep the approach: the source is hot enough for the
    # supply, and the return cold enough to cool the source to its outlet. Without the second,
    # part of the source heat lies below the return and needs the heat pump (preheat below).
    direct = (s_in >= s + approach) & (s_out >= r + approach)
    span = s - r
    # Hot end of the exchanger: network water leaves it approach_k below the source inlet.
    t_x_hot = np.clip(s_in - approach, r, s)
    with np.errstate(divide="ignore", invalid="ignore"):
        f_hot = np.where(span > 0, (t_x_hot - r) / span, 0.0)
        # Cold end: the source may leave the exchanger no colder than sink_in + approach; `a`
        # is the share of the source's drop the exchanger can take (>= 1: never limiting).
        drop = s_in - s_out
        a = np.where(drop > 0, (s_in - r - approach) / drop, np.inf)
    preheat = (a > 0) & (f_hot > 0) & ~direct

    def hp_cop(t_evap_in: NDArray[np.float64], t_cond_in: NDArray[np.float64]) -> Any:
        tm_src = _log_mean_k(t_evap_in - ABSOLUTE_ZERO_C, s_out - ABSOLUTE_ZERO_C)
        tm_sink = _log_mean_k(s - ABSOLUTE_ZERO_C, t_cond_in - ABSOLUTE_ZERO_C)
        return _practical_from_means(tm_src, tm_sink, eta_a, pinch, cmax)

    f = np.where(preheat, f_hot, 0.0)
    cop = hp_cop(s_in, r + f * span)  # first guess: evaporator sees the whole source stream
    t_mid = s_in
    if np.any(preheat):
        for _ in range(_SERIES_ITERATIONS):
            with np.errstate(divide="ignore", invalid="ignore"):
                f_cold = np.where(a >= 1, 1.0, a * (cop - 1.0) / (cop - a))
            f = np.where(preheat, np.minimum(f_hot, f_cold), 0.0)
            # source heat used per unit delivered: exchanger part + heat-pump part less its work
            src_per_del = 1.0 - (1.0 - f) / cop
            t_mid = np.where(preheat, s_in - drop * f / src_per_del, s_in)
            t_mid = np.clip(t_mid, s_out, s_in)
            cop = hp_cop(t_mid, r + f * span)
    carnot = np.asarray(carnot_cop(s_in, s_out, r, s), dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        cop_sys = np.where(direct, np.inf, np.minimum(cop / (1.0 - f), carnot))
    f = np.where(direct, 1.0, f)
    cop_hp = np.where(direct, np.nan, cop)
    # per MW of source heat: delivered = Q_src * COP / (COP - 1) (Q_src for direct exchange)
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = np.where(direct, 1.0, cop_sys / (cop_sys - 1.0))
        el = np.where(direct, 0.0, q_src / (cop_sys - 1.0))
    delivered = q_src * gain
    return HeatPumpOperation(
        cop=_out(cop_sys),
        cop_heat_pump=_out(cop_hp),
        direct=_out(direct),
        preheat_share=_out(f),
        preheat_to_c=_out(np.where(direct, s, r + f * span)),
        evaporator_in_c=_out(np.where(direct, np.nan, t_mid)),
        delivered_heat_mw=_out(delivered),
        exchanger_heat_mw=_out(delivered * f),
        heat_pump_heat_mw=_out(delivered * (1.0 - f)),
        electricity_mw=_out(el),
    )


@dataclass(frozen=True)
class RecoveryResult(Record):
    """Annual heat-recovery figures for one or many sites (docs/model.md s1-3).

    Fields are floats (scalar inputs) or arrays broadcast over the inputs. Powers in MW, energies
    in MWh per year. Supports ``result["name"]`` and :meth:`to_dict` as well as attribute access.
    """

    recovered_heat_mw: Any  # Q_src: heat captured into water
    delivered_heat_mw: Any  # Q_src * COP / (COP - 1), heat-pump output at full use
    heat_pump_electricity_mw: Any  # Q_src / (COP - 1)
    recovered_heat_mwh_per_yr: Any  # Q_src * hours (available, before network utilisation)
    delivered_heat_mwh_per_yr: Any  # Q_delivered * hours * u
    electricity_mwh_per_yr: Any  # W_el * hours * u
    reused_heat_mwh_per_yr: Any  # Q_src * hours * u: DC heat reused outside the DC (ERF numerator)
    dc_energy_mwh_per_yr: Any  # P_IT * utilisation_it * PUE * hours (ERF denominator)
    erf: Any  # energy reuse factor, ISO/IEC 30134-6
    meets_enefg_2026: Any  # erf >= 0.10
    meets_enefg_2027: Any  # erf >= 0.15
    meets_enefg_2028: Any  # erf >= 0.20


def _check_range(
    name: str, value: ArrayLike, lo: float, hi: float, *, lo_open: bool, fix: str
) -> NDArray[np.float64]:
    """Return ``value`` as float array; raise ConfigError naming it if not finite and in range."""
    v = np.asarray(value, dtype=float)
    ok = np.isfinite(v) & (v <= hi) & ((v > lo) if lo_open else (v >= lo))
    if not np.all(ok):
        bad = v[~ok].ravel()[0].item()
        bracket = "(" if lo_open else "["
        raise ConfigError(
            f"{name}={bad!r} is out of range: it must lie in {bracket}{lo}, {hi}]. {fix}"
        )
    return v


def annual_recovery(
    it_load_mw: ArrayLike,
    *,
    capture_fraction: ArrayLike = CAPTURE_FRACTION_AIR_COIL,
    utilisation_it: ArrayLike = UTILISATION_IT,
    pue: ArrayLike = PUE,
    cop: ArrayLike,
    annual_utilisation: ArrayLike = UTILISATION_ANNUAL,
    hours_per_yr: float = HOURS_PER_YR,
) -> RecoveryResult:
    """Annual recovered, delivered and reused heat and the ERF of a data center (docs/model.md
    s1-3).

    Parameters
    ----------
    it_load_mw : float or array
        IT nameplate power P_IT [MW], > 0.
    capture_fraction : float or array, default 0.95
        Share of IT power captured into water (f_cap), in (0, 1].
    utilisation_it : float or array, default 0.8
        Average IT load as share of nameplate, in (0, 1].
    pue : float or array, default 1.2
        Power usage effectiveness, >= 1.
    cop : float or array
        Heat-pump heating COP (> 1), e.g. from :func:`lorenz_cop`; ``inf`` for direct exchange.
    annual_utilisation : float or array, default 0.75
        Share of the available heat the network takes over the year (u), in [0, 1].
    hours_per_yr : float, default 8760

    Returns
    -------
    RecoveryResult
        Frozen dataclass (also indexable like a dict). ``erf`` = reused / dc_energy, where reused
        heat counts the DC heat only (not the heat-pump electricity) and dc_energy =
        ``P_IT * utilisation_it * PUE * hours``.
    """
    p_it = np.asarray(it_load_mw, dtype=float)
    if not np.all(np.isfinite(p_it) & (p_it > 0)):
        bad = p_it[~(np.isfinite(p_it) & (p_it > 0))].ravel()[0].item()
        raise ConfigError(
            f"it_load_mw={bad!r} is not a valid IT load: give the data center's IT power in MW "
            "as a finite number > 0."
        )
    f_cap = _check_range(
        "capture_fraction",
        capture_fraction,
        0.0,
        1.0,
        lo_open=True,
        fix="Use 0.95 for air-cooled coils or 0.80 for direct liquid cooling.",
    )
    u_it = _check_range(
        "utilisation_it",
        utilisation_it,
        0.0,
        1.0,
        lo_open=True,
        fix=f"Use the average IT load as a share of nameplate (default {UTILISATION_IT}).",
    )
    u = _check_range(
        "annual_utilisation",
        annual_utilisation,
        0.0,
        1.0,
        lo_open=False,
        fix=f"Use the share of available heat the network takes (default {UTILISATION_ANNUAL}).",
    )
    pue_a = _check_range(
        "pue", pue, 1.0, np.inf, lo_open=False, fix=f"PUE is >= 1 (default {PUE})."
    )
    hours = float(hours_per_yr)
    if not (np.isfinite(hours) and 0 < hours <= 8784):
        raise ConfigError(f"hours_per_yr={hours_per_yr!r} must lie in (0, 8784]. Use 8760.")
    cop_a = np.asarray(cop, dtype=float)
    if not np.all(cop_a > 1):  # also catches NaN
        bad = cop_a[~(cop_a > 1)].ravel()[0].item()
        raise ConfigError(
            f"cop={bad!r} is not a valid heat-pump COP: it must be > 1 (use inf for direct heat "
            "exchange). Compute it with lorenz_cop() or lower the temperature lift."
        )

    q_src = f_cap * p_it * u_it
    direct = np.isinf(cop_a)
    with np.errstate(invalid="ignore", divide="ignore"):
        # COP/(COP-1) -> 1 and 1/(COP-1) -> 0 as COP -> inf; inf/inf would give NaN, so branch.
        q_del = np.where(direct, q_src, q_src * cop_a / (cop_a - 1.0))
        w_el = np.where(direct, 0.0 * q_src, q_src / (cop_a - 1.0))
    reused = q_src * hours * u
    dc_energy = p_it * u_it * pue_a * hours
    erf = reused / dc_energy
    return RecoveryResult(
        recovered_heat_mw=_out(q_src),
        delivered_heat_mw=_out(q_del),
        heat_pump_electricity_mw=_out(w_el),
        recovered_heat_mwh_per_yr=_out(q_src * hours),
        delivered_heat_mwh_per_yr=_out(q_del * hours * u),
        electricity_mwh_per_yr=_out(w_el * hours * u),
        reused_heat_mwh_per_yr=_out(reused),
        dc_energy_mwh_per_yr=_out(dc_energy),
        erf=_out(erf),
        **{k: _out(v) for k, v in enefg_flags(erf).items()},
    )


def enefg_flags(erf: ArrayLike) -> dict[str, Any]:
    """`meets_enefg_2026/2027/2028`: ERF >= 10/15/20 % (EnEfG §11, docs/model.md §5)."""
    erf = np.asarray(erf, dtype=float)
    return {f"meets_enefg_{year}": erf >= level for year, level in ENEFG_ERF_THRESHOLDS.items()}


def homes_served(
    delivered_mwh_per_yr: ArrayLike, mwh_per_home: ArrayLike = MWH_PER_HOME_DK_2025
) -> Any:
    """Number of homes whose annual heat demand the delivered heat covers (docs/model.md s6).

    Parameters
    ----------
    delivered_mwh_per_yr : float or array
        Heat delivered to the network [MWh/yr], >= 0.
    mwh_per_home : float, default 14.0
        Heat per home [MWh/yr]: 14.0 Danish standard house (2025), 7.8 flat, 18.1 as used in
        2017-2024 claims. Report which one you used.
    """
    e = np.asarray(delivered_mwh_per_yr, dtype=float)
    if not np.all(np.isfinite(e) & (e >= 0)):
        raise ConfigError(
            "delivered_mwh_per_yr must be finite and >= 0; got "
            f"{e[~(np.isfinite(e) & (e >= 0))].ravel()[0].item()!r}."
        )
    per_home = np.asarray(mwh_per_home, dtype=float)
    ok = np.isfinite(per_home) & (per_home > 0)
    if not np.all(ok):
        raise ConfigError(
            f"mwh_per_home={per_home[~ok].ravel()[0].item()!r} must be finite and > 0. "
            f"Use {MWH_PER_HOME_DK_2025} (Danish house) or {MWH_PER_FLAT_DK} (flat)."
        )
    return _out(e / per_home)
