"""Hourly input series from CSV or Parquet: IT load, source temperature, electricity price.

Each file holds a timestamp column and a value column, one row per hour, for any year (or
several). A reader returns one year as a :class:`pandas.Series` in hour-of-year order (1 January
00:00 first); :func:`to_model_year` then maps it onto the model's hours (the weather series) by
month, day and hour, so a price series of 2023 can drive a typical weather year. Leap years: a
series with 29 February loses that day on an 8760-hour model year; a model year with 29 February
takes 28 February's values for it.

Timestamps label the *start* of each hour. Naive timestamps are taken as they are; timestamps
with a UTC offset are converted to UTC (as :func:`siting.sources.weather.read_weather` does), so
local daylight-saving time never creates a repeated or missing hour. Rows every 15 or 30 minutes
are averaged to hours. Problems raise a :class:`SeriesError` subclass naming the file, the row
and the fix.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from siting.errors import InputDataError
from siting.sources.text_tables import header_separator, hour_index, read_text_csv

__all__ = [
    "PRICE_UNITS",
    "SeriesDuplicateError",
    "SeriesError",
    "SeriesGapError",
    "SeriesLengthError",
    "SeriesOrderError",
    "SeriesValueError",
    "read_electricity_price",
    "read_hourly_series",
    "read_it_load_profile",
    "read_source_temperature",
    "to_model_year",
]

# Plausible ranges: outside them a column is in the wrong unit or holds a missing-value code.
SOURCE_TEMP_MIN_C = 0.0  # cooling water never freezes in a running data center
SOURCE_TEMP_MAX_C = 100.0
# Day-ahead prices are bounded by the market's technical limits (SDAC -500 / +4000 EUR/MWh in
# 2023-2025); a wider band leaves room for intraday or all-in prices.
PRICE_MIN_EUR_PER_MWH = -1000.0
PRICE_MAX_EUR_PER_MWH = 10000.0
DKK_PER_EUR = 7.46  # ERM II central rate 7.46038
# Factor from each supported price unit to EUR/MWh.
PRICE_UNITS = {
    "EUR/MWh": 1.0,
    "EUR/kWh": 1000.0,
    "DKK/MWh": 1.0 / DKK_PER_EUR,
    "DKK/kWh": 1000.0 / DKK_PER_EUR,
}

_TIME_NAMES = ("timestamp", "datetime", "time", "date", "hour")
NOMINAL_YEAR = 2001  # label of a year that does not start on 1 January (non-leap)
NOMINAL_LEAP_YEAR = 2000


class SeriesError(InputDataError):
    """An hourly series file cannot be used as it is."""


class SeriesGapError(SeriesError):
    """Hours are missing between two rows, or the rows are not hourly."""


class SeriesDuplicateError(SeriesError):
    """An hour appears in two rows."""


class SeriesOrderError(SeriesError):
    """A row comes before the row above it in time."""


class SeriesValueError(SeriesError):
    """A timestamp or value is missing, not a number, or out of range (e.g. a negative load)."""


class SeriesLengthError(SeriesError):
    """The series is not one whole year, or does not cover the model's hours."""


# --- reading --------------------------------------------------------------------------------------


def _read_table(path: Path, label: str) -> pd.DataFrame:
    """All columns as text (CSV) or as stored (Parquet); a DatetimeIndex becomes a column."""
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            df = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several unrelated types for a bad file
            raise SeriesError(
                f"{label} could not be read as Parquet ({exc}). Give a Parquet file with a "
                "timestamp column and a value column, or a CSV."
            ) from exc
        if isinstance(df.index, pd.DatetimeIndex):
            df = df.reset_index()
        return df
    sep, _ = header_separator(path)
    return read_text_csv(
        path,
        sep,
        f"{label}: give a header line and two columns: a timestamp (e.g. 2024-01-01 00:00) "
        "and the value.",
        SeriesError,
    )


def _pick_columns(
    label: str, cols: list[str], value_names: tuple[str, ...], value_column: str | None
) -> tuple[str, str]:
    """(time column, value column) by name, else by position; error when ambiguous."""
    if len(cols) < 2:
        raise SeriesError(
            f"{label} has {len(cols)} column(s) ({cols}); it needs a timestamp column and a "
            "value column, e.g. 'time,value'."
        )
    tcol = next(
        (c for key in _TIME_NAMES for c in cols if key in c.lower()),
        cols[0],
    )
    if value_column is not None:
        if value_column not in cols:
            raise SeriesError(
                f"{label} has no column {value_column!r}; its columns are {cols}. Pass one of "
                "them as value_column."
            )
        return tcol, value_column
    others = [c for c in cols if c != tcol]
    for key in value_names:
        for c in others:
            if key in c.lower():
                return tcol, c
    if len(others) == 1:
        return tcol, others[0]
    raise SeriesError(
        f"{label} has several value columns {others} and none is named like "
        f"{'/'.join(value_names)}; pass value_column= to say which one to use."
    )


def _row(i: int, csv: bool) -> str:
    return f"row {i + 1} (line {i + 2})" if csv else f"row {i + 1}"


def _to_hourly(
    label: str, index: pd.DatetimeIndex, values: np.ndarray, csv: bool
) -> tuple[pd.DatetimeIndex, np.ndarray, int]:
    """Check the rows are consecutive hours (or average regular 15/30-minute rows to hours).

    Returns the hourly index, the values and the number of rows per hour (1 if already hourly).
    """
    if len(index) == 0:
        raise SeriesLengthError(f"{label} holds no data rows; give one row per hour for a year.")
    step = np.diff(index.to_numpy()).astype("timedelta64[s]").astype(np.int64)
    per_hour = 1
    if step.size and np.all(step == step[0]) and 0 < step[0] < 3600 and 3600 % step[0] == 0:
        per_hour = int(3600 // step[0])
        first_hour_start = index[0] == index[0].floor("h")
        if not first_hour_start or len(index) % per_hour:
            raise SeriesGapError(
                f"{label}: rows every {step[0] // 60} minutes must cover whole hours "
                f"(start at a full hour, {per_hour} rows per hour); the first row is "
                f"{index[0]} and there are {len(index)} rows. Trim the partial hours."
            )
        values = values.reshape(-1, per_hour).mean(axis=1)
        index = index[::per_hour]
        return index, values, per_hour
    wrong = np.flatnonzero(step != 3600)
    if wrong.size == 0:
        return index, values, per_hour
    # Rows out of order also look like a gap and a repeat nearby: report the cause first.
    backwards = np.flatnonzero(step < 0)
    i = int(backwards[0] if backwards.size else wrong[0]) + 1
    prev, this = index[i - 1], index[i]
    where = _row(i, csv)
    if this == prev:
        raise SeriesDuplicateError(
            f"{label}: {where} repeats the hour {this} of the row before. Remove the duplicate; "
            "a repeated hour each autumn means local daylight-saving time (give timestamps in "
            "UTC or with an offset), two rows per hour can mean two price areas (keep one)."
        )
    if this < prev:
        raise SeriesOrderError(
            f"{label}: {where} ({this}) comes before the row above it ({prev}). Sort the rows "
            "by time."
        )
    gap = this - prev
    if gap % pd.Timedelta(hours=1) == pd.Timedelta(0):
        missing = int(gap / pd.Timedelta(hours=1)) - 1
        raise SeriesGapError(
            f"{label}: {where} ({this}) follows {prev}: {missing} hour(s) missing. Fill the "
            "gap (e.g. repeat or interpolate the neighbouring hours); a missing hour each "
            "spring means local daylight-saving time (give timestamps in UTC or with an offset)."
        )
    raise SeriesGapError(
        f"{label}: {where} ({this}) is {gap} after the row above it, not one hour. Resample "
        "the data to hourly means first."
    )


def _hours_in_year(y: int) -> int:
    return 8784 if pd.Timestamp(year=y, month=1, day=1).is_leap_year else 8760


def _one_year(label: str, s: pd.Series, year: int | None) -> pd.Series:
    """The requested calendar year, the whole series if it is one year, or the last complete
    calendar year; in hour-of-year order."""
    counts = s.groupby(s.index.year).size()
    complete = [int(y) for y, n in counts.items() if n == _hours_in_year(int(y))]
    if year is not None:
        if int(year) not in complete:
            have = ", ".join(map(str, complete)) or "none"
            raise SeriesLengthError(
                f"{label}: year {year} is not complete in the file (complete years: {have}). "
                "Pick one of those, or give a file covering the whole of that year."
            )
        return s[s.index.year == int(year)]
    n = len(s)
    if n in (8760, 8784):
        span = pd.date_range(s.index[0].normalize(), s.index[-1].normalize(), freq="D")
        has_feb29 = bool(((span.month == 2) & (span.day == 29)).any())
        if (n == 8784) == has_feb29:  # 8760 hours, or 8784 that include 29 February
            return _hour_of_year_order(s, has_feb29)
    if complete:
        y = complete[-1]
        return s[s.index.year == y]
    raise SeriesLengthError(
        f"{label}: has {n} hourly rows from {s.index[0]} to {s.index[-1]}, which is not a whole "
        "year: one year needs 8760 consecutive hours (8784 in a leap year). Give a full year."
    )


def _hour_of_year_order(s: pd.Series, leap: bool) -> pd.Series:
    """A one-year series that starts mid-year, rotated to start on 1 January (nominal year)."""
    if s.index[0] == s.index[0].replace(month=1, day=1, hour=0, minute=0, second=0):
        return s
    y = NOMINAL_LEAP_YEAR if leap else NOMINAL_YEAR
    idx = s.index
    nominal = pd.to_datetime(
        dict(year=np.full(len(idx), y), month=idx.month, day=idx.day, hour=idx.hour)
    )
    out = pd.Series(s.to_numpy(), index=pd.DatetimeIndex(nominal), name=s.name).sort_index()
    out.attrs.update(s.attrs, start=str(idx[0]))
    return out


def read_hourly_series(
    path: str | Path,
    *,
    name: str,
    what: str,
    value_names: tuple[str, ...] = ("value",),
    value_column: str | None = None,
    scale: float = 1.0,
    lo: float = -np.inf,
    hi: float = np.inf,
    range_fix: str = "",
    year: int | None = None,
) -> pd.Series:
    """Read one year of an hourly series from a CSV or Parquet file.

    Parameters
    ----------
    path : str or Path
        CSV (``,``/``;``/tab separated, decimal comma allowed with ``;``) or Parquet
        (``.parquet``/``.pq``; a DatetimeIndex counts as the timestamp column).
    name : str
        Name of the returned series (e.g. ``"utilisation_it"``).
    what : str
        What the values are, for messages (e.g. ``"IT load"``).
    value_names : tuple of str
        Parts of a column name that mark the value column, tried in order.
    value_column : str, optional
        The value column by name (needed when several columns could be it).
    scale : float, default 1
        Factor applied to the values (unit conversion) before the range check.
    lo, hi : float
        Allowed range of the scaled values (inclusive); ``range_fix`` is added to the message.
    year : int, optional
        Calendar year to take from a multi-year file (default: the whole file if it is one
        year, else the last complete calendar year).

    Returns
    -------
    pandas.Series
        8760 (8784 in a leap year) hourly values named ``name`` on a DatetimeIndex from
        1 January 00:00; ``attrs`` holds ``source``, ``column``, ``year`` (None when the file's
        year was rotated to start on 1 January; ``start`` then gives its first hour) and
        ``rows_per_hour``.

    Raises
    ------
    SeriesError
        Unreadable file or unclear columns; subclasses for a bad value or timestamp
        (:class:`SeriesValueError`), a repeated hour (:class:`SeriesDuplicateError`), missing
        hours (:class:`SeriesGapError`), rows out of order (:class:`SeriesOrderError`) and not
        a whole year (:class:`SeriesLengthError`).
    """
    path = Path(path).expanduser()
    label = f"{what} file {path}"
    if not path.is_file():
        raise SeriesError(f"{label} does not exist; check the path.")
    csv = path.suffix.lower() not in (".parquet", ".pq")
    df = _read_table(path, label)
    cols = [str(c) for c in df.columns]
    df.columns = cols
    tcol, vcol = _pick_columns(label, cols, value_names, value_column)

    index = hour_index(df[tcol], lambda i: f"{label}: {_row(i, csv)} has {tcol}", SeriesValueError)

    raw = df[vcol]
    if pd.api.types.is_numeric_dtype(raw):  # Parquet keeps numbers as numbers
        values = raw.to_numpy(dtype=float, na_value=np.nan)
    else:
        text = raw.astype(str).str.strip()
        if csv:  # decimal comma (with ';' or tab as the separator)
            text = text.str.replace(",", ".", regex=False)
        values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise SeriesValueError(
            f"{label}: {_row(i, csv)} has {vcol} {raw.iloc[i]!r}, not a number "
            f"({int(bad.sum())} such row(s)). Fill the missing hours (e.g. repeat or "
            "interpolate their neighbours) or fix the values."
        )
    values = values * scale
    out_of_range = (values < lo) | (values > hi)
    if out_of_range.any():
        i = int(np.flatnonzero(out_of_range)[0])
        raise SeriesValueError(
            f"{label}: {_row(i, csv)} has {what} {raw.iloc[i]!r}, outside the allowed "
            f"{lo:g} to {hi:g} ({int(out_of_range.sum())} such row(s)). {range_fix}".rstrip()
        )
    index, values, per_hour = _to_hourly(label, index, values, csv)
    s = pd.Series(values, index=index, name=name)
    s.index.name = "time"
    one = _one_year(label, s, year)
    out = pd.Series(one.to_numpy(dtype=float), index=one.index, name=name)
    out.index.name = "time"
    starts_jan1 = "start" not in one.attrs
    out.attrs.update(
        source=str(path),
        column=vcol,
        year=int(one.index[0].year) if starts_jan1 else None,
        rows_per_hour=per_hour,
        **({} if starts_jan1 else {"start": one.attrs["start"]}),
    )
    return out


def read_it_load_profile(
    path: str | Path,
    *,
    nameplate_mw: float | None = None,
    value_column: str | None = None,
    year: int | None = None,
) -> pd.Series:
    """Hourly IT load as a share of nameplate, for ``hourly_recovery(utilisation_it=...)``.

    Values are shares in [0, 1]; give ``nameplate_mw`` when the file holds MW (they are divided
    by it). Column names with ``util``/``share``/``fraction``/``load``/``mw``/``value`` are
    recognised. Returns a Series named ``utilisation_it``; see :func:`read_hourly_series`.
    """
    if nameplate_mw is not None and not (np.isfinite(nameplate_mw) and nameplate_mw > 0):
        raise SeriesValueError(f"nameplate_mw={nameplate_mw!r} must be a finite MW > 0.")
    fix = (
        "A load is never negative and the share of nameplate at most 1; if the file holds MW, "
        "pass nameplate_mw= to divide by the IT nameplate."
        if nameplate_mw is None
        else f"Loads lie between 0 and the nameplate {nameplate_mw:g} MW; check the nameplate."
    )
    return read_hourly_series(
        path,
        name="utilisation_it",
        what="IT load",
        value_names=("util", "share", "fraction", "load", "mw", "value"),
        value_column=value_column,
        scale=1.0 if nameplate_mw is None else 1.0 / nameplate_mw,
        lo=0.0,
        hi=1.0,
        range_fix=fix,
        year=year,
    )


def read_source_temperature(
    path: str | Path, *, value_column: str | None = None, year: int | None = None
) -> pd.Series:
    """Hourly temperature of the data center's cooling water to the recovery plant [degC].

    For ``hourly_recovery(source_in_c=...)`` (give ``source_out_c`` as the series minus the
    design drop, e.g. 10 K). Column names with ``source``/``supply``/``temp``/``_c``/``value``
    are recognised; values must lie in 0-100 degC. Returns a Series named ``source_in_c``.
    """
    return read_hourly_series(
        path,
        name="source_in_c",
        what="source temperature",
        value_names=("source", "supply", "temp", "_c", "value"),
        value_column=value_column,
        lo=SOURCE_TEMP_MIN_C,
        hi=SOURCE_TEMP_MAX_C,
        range_fix="Give the cooling water's temperature in degC (not kelvin or Fahrenheit).",
        year=year,
    )


def read_electricity_price(
    path: str | Path,
    *,
    unit: str = "EUR/MWh",
    value_column: str | None = None,
    year: int | None = None,
) -> pd.Series:
    """Hourly electricity price [EUR/MWh] for ``hourly_recovery(electricity_price_eur_per_mwh=)``.

    ``unit`` is one of ``EUR/MWh``, ``EUR/kWh``, ``DKK/MWh``, ``DKK/kWh`` (DKK at 7.46 per EUR).
    Negative prices are allowed (they occur in day-ahead markets). Column names with
    ``eur``/``price``/``spot``/``value`` are recognised, so an Energi Data Service
    "Elspotprices" export of one price area works as is (``HourUTC`` and ``SpotPriceEUR``).
    Returns a Series named ``electricity_price_eur_per_mwh``.
    """
    if unit not in PRICE_UNITS:
        raise SeriesError(f"unit={unit!r} is not supported; use one of {', '.join(PRICE_UNITS)}.")
    return read_hourly_series(
        path,
        name="electricity_price_eur_per_mwh",
        what="electricity price",
        value_names=("eur", "price", "spot", "value")
        if unit.startswith("EUR")
        else (
            "dkk",
            "price",
            "spot",
            "value",
        ),
        value_column=value_column,
        scale=PRICE_UNITS[unit],
        lo=PRICE_MIN_EUR_PER_MWH,
        hi=PRICE_MAX_EUR_PER_MWH,
        range_fix=f"Check the unit (read as {unit}; pass unit= for EUR/kWh, DKK/MWh or DKK/kWh).",
        year=year,
    )


# --- mapping onto the model year ------------------------------------------------------------------


def _keys(index: pd.DatetimeIndex) -> np.ndarray:
    return np.asarray(index.month * 10000 + index.day * 100 + index.hour, dtype=np.int64)


def to_model_year(series: pd.Series, target: int | pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Values of a one-year hourly series on the model's hours, matched by month, day and hour.

    Parameters
    ----------
    series : pandas.Series
        As returned by the readers above (any year).
    target : int, pandas.Series or DatetimeIndex
        The model's hours: the weather series (or its index), or a number of hours (8760 or
        8784, taken as a year from 1 January).

    Returns
    -------
    ndarray
        One value per model hour. 29 February of the model year takes 28 February's values
        when the series has none; a series' 29 February is dropped when the model year has
        none.

    Raises
    ------
    SeriesLengthError
        ``series`` repeats a (month, day, hour) or lacks one the model needs.
    """
    if isinstance(target, pd.Series):
        target = target.index
    if isinstance(target, int | np.integer):
        n = int(target)
        if n not in (8760, 8784):
            raise SeriesLengthError(
                f"target={n} hours is not a year; give 8760 or 8784, or the weather series."
            )
        start = f"{NOMINAL_LEAP_YEAR if n == 8784 else NOMINAL_YEAR}-01-01"
        target = pd.date_range(start, periods=n, freq="h")
    if not isinstance(target, pd.DatetimeIndex) or not isinstance(series.index, pd.DatetimeIndex):
        raise SeriesLengthError(
            "to_model_year needs a series on a DatetimeIndex (as the readers return) and a "
            "target that is a number of hours, a weather Series or a DatetimeIndex."
        )
    label = f"{series.name or 'series'} ({series.attrs.get('source', 'in memory')})"
    keys = _keys(series.index)
    lookup = pd.Index(keys)
    if not lookup.is_unique:
        raise SeriesLengthError(
            f"{label} repeats an hour of the year: give one year (the readers return one)."
        )
    want = _keys(target)
    feb29 = (want // 100) == 229
    if feb29.any() and not np.isin(want[feb29], keys).all():
        want = np.where(feb29, want - 100, want)  # 29 Feb -> 28 Feb, same hour
    pos = lookup.get_indexer(want)
    if np.any(pos < 0):
        i = int(np.flatnonzero(pos < 0)[0])
        raise SeriesLengthError(
            f"{label} has no value for {target[i]:%d %B %H:00}, an hour of the model year. "
            "Give a whole year of hourly values."
        )
    return series.to_numpy(dtype=float)[pos]
