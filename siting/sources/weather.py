"""Hourly outdoor temperature for one year: EPW, CSV, Daisy ``.dwf`` or a typical Danish year.

Every reader returns a :class:`pandas.Series` named ``outdoor_c`` [degC] on an hourly
:class:`pandas.DatetimeIndex` whose labels are the *start* of each hour, naive, in the file's
local standard time (EPW and dwf files are in standard time; CSV timestamps with a UTC offset are
converted to UTC). ``series.attrs`` holds ``source``, ``format`` and ``year``.

Leap years: a year is kept as it was, so a leap year has 8784 hours (29 February is not dropped).
Heating degree-hours and the annual totals of :mod:`siting.hourly` are sums over the hours given,
so a leap year carries its real extra day of demand and of data-center heat. The hourly model works
on any length; it only assumes the series is one year when it labels totals ``per_yr``.

Heating degree days (:func:`heating_degree_days`) follow the usual daily-mean convention
(sum over days of ``max(0, base - daily mean)``), which is what DMI and Eurostat publish; the
hourly demand model itself uses degree-*hours* (docs/model.md s3).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from siting.errors import ConfigError, InputDataError
from siting.sources.text_tables import header_separator, hour_index, read_text_csv

__all__ = [
    "TYPICAL_DK_ANNUAL_AMPLITUDE_K",
    "TYPICAL_DK_DIURNAL_AMPLITUDE_K",
    "TYPICAL_DK_DIURNAL_SEASONAL_K",
    "TYPICAL_DK_MEAN_C",
    "TYPICAL_DK_PEAK_DAY",
    "TYPICAL_DK_PEAK_HOUR",
    "heating_degree_days",
    "read_weather",
    "typical_danish_year",
]

# Plausible outdoor air temperatures on Earth; outside this a column is in the wrong unit
# (kelvin, Fahrenheit) or holds a missing-value code such as EPW's 99.9.
T_MIN_PLAUSIBLE_C = -90.0
T_MAX_PLAUSIBLE_C = 60.0
EPW_HEADER_LINES = 8
EPW_DRY_BULB_COLUMN = 6  # 0-based; the 7th field of a data row
EPW_MISSING_DRY_BULB = 99.9

# --- built-in typical Danish year (see typical_danish_year) ---------------------------------------
# Annual mean: DMI's national mean for 2006-2015, 8.9 degC (DMI, "Temperaturen i Danmark",
# dmi.dk/klima/temaforside-klimaet-frem-til-i-dag/temperaturen-i-danmark, updated 2020-01-31;
# the same page gives 8.3 degC for 1981-2010). The recent decade is used because heat is sold
# into today's climate, not the 1990s'.
TYPICAL_DK_MEAN_C = 8.9
# Shape parameters fitted by least squares to the measured hourly air temperature at
# Hoejbakkegaard, Taastrup, 2014-2018 (Univ. Copenhagen Daisy model repository,
# perabrahamsen/daisy-model @ a0bae66, project/commit/dk-taastrup-hourly2014_2018.dwf), model
# T = mean + A*s + (a0 + a1*s)*cos(2pi(h - h_peak)/24), s = cos(2pi(day - day_peak)/365.25).
# Fitted on read_weather's standard-time output; residual s.d. 3.1 K (the synoptic weather a
# smooth model leaves out). The same fit on the Copenhagen IWEC typical year gives
# A = 8.20 K, peak day 205.1, a0 = 1.90 K, a1 = 1.18 K, peak hour 13.7.
TYPICAL_DK_ANNUAL_AMPLITUDE_K = 8.22  # A
TYPICAL_DK_PEAK_DAY = 206.1  # days after 1 Jan 00:00 -> warmest about 26 July
TYPICAL_DK_DIURNAL_AMPLITUDE_K = 2.08  # a0: half the mean day-night swing
TYPICAL_DK_DIURNAL_SEASONAL_K = 1.40  # a1: swing +-0.7 K in mid-winter, +-3.5 K in mid-summer
TYPICAL_DK_PEAK_HOUR = 13.84  # local standard time of the daily maximum
TYPICAL_DK_YEAR_LABEL = 2001  # any non-leap year; only the calendar matters


def _series(values: np.ndarray, index: pd.DatetimeIndex, **attrs: object) -> pd.Series:
    s = pd.Series(np.asarray(values, dtype=float), index=index, name="outdoor_c")
    s.index.name = "time"
    s.attrs.update(attrs)
    return s


def typical_danish_year() -> pd.Series:
    """A smooth typical Danish year of hourly outdoor temperature (8760 values).

    Built from a documented model, not from measured hours: an annual sinusoid plus a daily
    cycle whose amplitude grows in summer. The annual mean is DMI's national mean for 2006-2015
    (8.9 degC); amplitude, phase and the daily cycle are least-squares fits to five years of
    hourly measurements at Taastrup (2014-2018); the module constants ``TYPICAL_DK_*`` give the
    values and sources. Result: mean 8.9 degC, coldest hour about 0 degC, warmest 20.6 degC,
    monthly means 0.9 (Jan) to 16.9 degC (Jul), heating degree days (base 17) about 2960,
    against 2630-2930 measured at Taastrup 2014-2018 and 3219 in the Copenhagen IWEC year.

    Limitations: no cold spells or heat waves (real Danish years reach -10 to -15 degC), so the
    network's winter peak is flatter than in reality. Summer base load and annual totals, which
    decide how much data-center heat a network can take, are represented; give real weather
    with :func:`read_weather` when peaks matter.

    Returns
    -------
    pandas.Series
        ``outdoor_c`` [degC] on an hourly index for a nominal non-leap year
        (``attrs["format"] == "typical"``).
    """
    index = pd.date_range(f"{TYPICAL_DK_YEAR_LABEL}-01-01", periods=8760, freq="h")
    hour_mid = np.arange(8760) + 0.5  # evaluate at the middle of each hour
    day = hour_mid / 24.0
    seasonal = np.cos(2.0 * np.pi * (day - TYPICAL_DK_PEAK_DAY) / 365.25)
    diurnal = np.cos(2.0 * np.pi * (hour_mid % 24.0 - TYPICAL_DK_PEAK_HOUR) / 24.0)
    t_c = (
        TYPICAL_DK_MEAN_C
        + TYPICAL_DK_ANNUAL_AMPLITUDE_K * seasonal
        + (TYPICAL_DK_DIURNAL_AMPLITUDE_K + TYPICAL_DK_DIURNAL_SEASONAL_K * seasonal) * diurnal
    )
    return _series(t_c, index, source="built-in typical Danish year", format="typical", year=None)


def heating_degree_days(outdoor_c: pd.Series, base_c: float = 17.0) -> float:
    """Heating degree days: sum over calendar days of ``max(0, base_c - daily mean)``.

    Parameters
    ----------
    outdoor_c : pandas.Series
        Hourly temperatures [degC] on a DatetimeIndex (e.g. from :func:`read_weather`).
    base_c : float, default 17.0
        Base temperature [degC] (Danish convention).
    """
    if not isinstance(outdoor_c.index, pd.DatetimeIndex):
        raise ConfigError(
            "heating_degree_days needs a Series on a DatetimeIndex (as read_weather returns), "
            f"got an index of type {type(outdoor_c.index).__name__}."
        )
    daily = outdoor_c.groupby(outdoor_c.index.normalize()).mean()
    return float(np.clip(base_c - daily.to_numpy(dtype=float), 0.0, None).sum())


# --- reading --------------------------------------------------------------------------------------


def read_weather(path: str | Path, *, year: int | None = None) -> pd.Series:
    """Read hourly outdoor air temperature for one year from a weather file.

    Formats (detected from the content, then the suffix):

    * EPW (EnergyPlus): 8 header lines, then one row per hour; field 7 is dry-bulb [degC].
      Typical-year files (months from different years) get a nominal non-leap year label.
    * Daisy ``.dwf`` (e.g. the Taastrup station file): a text header, a line of dashes, a column
      line (``Year Month Day Hour AirTemp ...``), a units line, then whitespace-separated rows.
      ``Hour`` labels the *end* of the hour (the files run 01h on the first day to 00h after the
      last), so each row is stored at the start of its hour. Stretches logged in local summer
      time (a missing spring hour paired with a repeated autumn hour) are moved to standard
      time; ``attrs["dst_hours_shifted"]`` counts the rows moved.
    * CSV: a timestamp column and a temperature column (names containing ``time``/``date`` and
      ``temp``/``outdoor``/``dry_bulb``/``air``, else the first two columns), one row per hour.

    Files longer than one year (dwf, CSV) give one calendar year: ``year`` if given, else the
    last complete one. A CSV of exactly one year (8760 hours, or 8784 spanning 29 February) is
    taken whole even if it does not start on 1 January.

    Parameters
    ----------
    path : str or Path
        Weather file.
    year : int, optional
        Calendar year to select from a multi-year file.

    Returns
    -------
    pandas.Series
        ``outdoor_c`` [degC], hourly, 8760 values (8784 in a leap year), see the module docstring.

    Raises
    ------
    InputDataError
        Missing file, unknown layout, a gap, duplicate or out-of-order hour, a non-numeric or
        implausible temperature, or not a whole year; the message names the row and the fix.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputDataError(f"weather file {path} does not exist; check the path.")
    with open(path, encoding="latin-1") as fh:  # dwf headers carry Danish letters in latin-1
        head = fh.read(4096)
    first = head.lstrip().split("\n", 1)[0]
    suffix = path.suffix.lower()
    if first.upper().startswith("LOCATION,") or suffix == ".epw":
        return _read_epw(path, year)
    if first.startswith("dwf-") or suffix == ".dwf":
        return _read_dwf(path, year)
    return _read_csv(path, year)


def _hours_in_year(y: int) -> int:
    return 8784 if pd.Timestamp(year=y, month=1, day=1).is_leap_year else 8760


def _check_values(name: str, t: np.ndarray, row_of: Callable[[int], str]) -> None:
    """Reject NaN and implausible temperatures, naming the first bad row."""
    bad = ~np.isfinite(t) | (t < T_MIN_PLAUSIBLE_C) | (t > T_MAX_PLAUSIBLE_C)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputDataError(
            f"{name}: {row_of(i)} has temperature {t[i]!r}, which is not an outdoor air "
            f"temperature in degC (allowed {T_MIN_PLAUSIBLE_C:g} to {T_MAX_PLAUSIBLE_C:g}; "
            f"{int(bad.sum())} such row(s)). Fill missing hours (e.g. interpolate from "
            "neighbours) and convert kelvin or Fahrenheit to degC."
        )


def _check_hourly(name: str, index: pd.DatetimeIndex, row_of: Callable[[int], str]) -> None:
    """Require strictly consecutive hours; name the first row that breaks the sequence."""
    if len(index) == 0:
        raise InputDataError(f"{name} holds no data rows; give one row per hour for a year.")
    # seconds between rows, independent of the index's datetime resolution
    step = np.diff(index.to_numpy()).astype("timedelta64[s]").astype(np.int64)
    wrong = np.flatnonzero(step != 3600)
    if wrong.size == 0:
        return
    i = int(wrong[0]) + 1
    prev, this = index[i - 1], index[i]
    if this == prev:
        what = f"repeats the hour {this} of the row before"
        fix = (
            "Remove the duplicate. A repeated hour each autumn means local daylight-saving "
            "time: give timestamps in standard time or with a UTC offset."
        )
    elif this < prev:
        what = f"({this}) comes before the row above it ({prev})"
        fix = "Sort the rows by time."
    elif (this - prev) > pd.Timedelta(hours=1) and (this - prev) % pd.Timedelta(
        hours=1
    ) == pd.Timedelta(0):
        missing = int((this - prev) / pd.Timedelta(hours=1)) - 1
        what = f"({this}) follows {prev}: {missing} hour(s) missing"
        fix = (
            "Fill the gap (e.g. interpolate from the neighbouring hours). A missing hour each "
            "spring means local daylight-saving time: use standard time or a UTC offset."
        )
    else:
        what = f"({this}) is {this - prev} after the row above it, not one hour"
        fix = "Resample the data to hourly means first."
    raise InputDataError(f"{name}: {row_of(i)} {what}. {fix}")


def _select_year(name: str, s: pd.Series, year: int | None, allow_any_year: bool) -> pd.Series:
    """Return one year: the requested calendar year, the whole series if it is one year, or the
    last complete calendar year."""
    counts = s.groupby(s.index.year).size()
    complete = [int(y) for y, n in counts.items() if n == _hours_in_year(int(y))]
    if year is not None:
        if int(year) not in complete:
            have = ", ".join(map(str, complete)) or "none"
            raise InputDataError(
                f"{name}: year {year} is not complete in the file (complete years: {have}). "
                "Pick one of those, or give a file covering the whole of that year."
            )
        out = s[s.index.year == int(year)]
        out.attrs.update(s.attrs, year=int(year))
        return out
    n = len(s)
    if allow_any_year and n in (8760, 8784):
        span = pd.date_range(s.index[0], s.index[-1], freq="D")
        has_feb29 = bool(((span.month == 2) & (span.day == 29)).any())
        if (n == 8784) == has_feb29:  # 8760 hours, or 8784 that include 29 February
            out = s.copy()
            starts_jan1 = s.index[0] == pd.Timestamp(year=s.index[0].year, month=1, day=1)
            out.attrs.update(s.attrs, year=int(s.index[0].year) if starts_jan1 else None)
            return out
    if complete:
        y = complete[-1]
        out = s[s.index.year == y]
        out.attrs.update(s.attrs, year=y)
        return out
    raise InputDataError(
        f"{name}: has {n} hourly rows from {s.index[0]} to {s.index[-1]}, which is not a whole "
        "year: one year needs 8760 consecutive hours (8784 in a leap year). Give a full year, "
        "or leave out the weather to use the built-in typical Danish year."
    )


def _read_epw(path: Path, year: int | None) -> pd.Series:
    name = f"EPW file {path}"
    try:
        df = pd.read_csv(
            path,
            skiprows=EPW_HEADER_LINES,
            header=None,
            usecols=[0, 1, 2, 3, EPW_DRY_BULB_COLUMN],
            encoding="latin-1",
        )
    except (ValueError, pd.errors.ParserError) as exc:
        raise InputDataError(
            f"{name} could not be read as EPW ({exc}); an EPW has 8 header lines then "
            "comma-separated hourly rows with dry-bulb temperature in field 7."
        ) from exc
    df.columns = ["year", "month", "day", "hour", "t"]

    def row_of(i: int) -> str:
        return f"data row {i + 1} (line {EPW_HEADER_LINES + i + 1})"

    for col in ("year", "month", "day", "hour"):
        num = pd.to_numeric(df[col], errors="coerce")
        if num.isna().any():
            i = int(np.flatnonzero(num.isna().to_numpy())[0])
            raise InputDataError(
                f"{name}: {row_of(i)} has {col} {df[col].iloc[i]!r}, not a number. Repair the "
                "row or re-export the file."
            )
        df[col] = num.astype(int)
    t = pd.to_numeric(df["t"], errors="coerce").to_numpy(dtype=float, copy=True)
    t[t == EPW_MISSING_DRY_BULB] = np.nan  # EPW's missing-value code
    _check_values(name, t, row_of)
    # Typical-year files take each month from a different year; label them with one nominal year.
    years = df["year"].unique()
    if len(years) == 1:
        label = int(years[0])
    else:
        label = 2000 if len(df) == 8784 else TYPICAL_DK_YEAR_LABEL
    try:
        # EPW hour 1..24 is the hour *ending* at that time: store the start of the hour.
        index = pd.DatetimeIndex(
            pd.to_datetime(dict(year=label, month=df["month"], day=df["day"]))
            + pd.to_timedelta(df["hour"] - 1, unit="h")
        )
    except (ValueError, OverflowError) as exc:
        raise InputDataError(
            f"{name}: a row has an impossible date or hour ({exc}); EPW hours run 1-24."
        ) from exc
    _check_hourly(name, index, row_of)
    s = _series(t, index, source=str(path), format="epw", year=label)
    if len(s) != _hours_in_year(label) or index[0] != pd.Timestamp(year=label, month=1, day=1):
        raise InputDataError(
            f"{name}: has {len(s)} hourly rows from {index[0]} to {index[-1]}; an EPW must hold "
            f"one whole year ({_hours_in_year(label)} rows from 1 January hour 1). Use a "
            "complete EPW file."
        )
    return _select_year(name, s, year, allow_any_year=False)


def _read_dwf(path: Path, year: int | None) -> pd.Series:
    name = f"dwf file {path}"
    lines = path.read_text(encoding="latin-1").splitlines()
    dash = next(
        (i for i, line in enumerate(lines) if re.fullmatch(r"-{3,}", line.strip() or "x")), None
    )
    if dash is None or dash + 2 >= len(lines):
        raise InputDataError(
            f"{name}: no line of dashes followed by a column line and a units line was found; "
            "a dwf file has a text header, a dashes line, 'Year Month Day Hour AirTemp ...', "
            "a units line, then the data."
        )
    columns = lines[dash + 1].split()
    lower = [c.lower() for c in columns]
    need = ["year", "month", "day", "hour", "airtemp"]
    missing = [c for c in need if c not in lower]
    if missing:
        raise InputDataError(
            f"{name}: the column line (line {dash + 2}) lacks {missing}; hourly weather needs "
            f"Year, Month, Day, Hour and AirTemp columns (found {columns})."
        )
    first_data_line = dash + 4  # 1-based line number of the first data row
    try:
        df = pd.read_csv(
            path,
            sep=r"\s+",
            skiprows=dash + 3,
            header=None,
            names=columns,
            usecols=[lower.index(c) for c in need],
            encoding="latin-1",
            dtype=str,
        )
    except (ValueError, pd.errors.ParserError) as exc:
        raise InputDataError(f"{name}: the data rows could not be parsed ({exc}).") from exc
    df.columns = need

    def row_of(i: int) -> str:
        return f"line {first_data_line + i}"

    nums = {}
    for col in need:
        num = pd.to_numeric(df[col], errors="coerce")
        if num.isna().any():
            i = int(np.flatnonzero(num.isna().to_numpy())[0])
            raise InputDataError(
                f"{name}: {row_of(i)} has {col} {df[col].iloc[i]!r}, not a number. Fill the "
                "missing value (e.g. interpolate) or remove the row's garbage."
            )
        nums[col] = num.to_numpy()
    t = nums["airtemp"].astype(float)
    _check_values(name, t, row_of)
    try:
        # Hour labels the end of the measured hour (files run 01h .. 00h next day): store start.
        index = pd.DatetimeIndex(
            pd.to_datetime(
                dict(year=nums["year"], month=nums["month"], day=nums["day"]), errors="raise"
            )
            + pd.to_timedelta(nums["hour"].astype(float) - 1.0, unit="h")
        )
    except (ValueError, OverflowError) as exc:
        raise InputDataError(f"{name}: a row has an impossible date ({exc}).") from exc
    index, n_shifted = _daylight_saving_to_standard(index)
    _check_hourly(name, index, row_of)
    s = _series(t, index, source=str(path), format="dwf", year=None, dst_hours_shifted=n_shifted)
    return _select_year(name, s, year, allow_any_year=False)


def _daylight_saving_to_standard(index: pd.DatetimeIndex) -> tuple[pd.DatetimeIndex, int]:
    """Undo local daylight-saving time in a naive hourly index; return it and the hours moved.

    The Taastrup file is logged in Danish summer time in 2014-2016 (one hour missing at 02h on
    the last Sunday of March, one repeated on the last Sunday of October) and in standard time
    from 2017. Each spring gap is paired with the next autumn repeat and the rows between are
    moved back one hour, giving continuous standard time. Anything that does not fit this
    pattern is left alone for :func:`_check_hourly` to report.
    """
    if len(index) < 2:
        return index, 0
    step = np.diff(index.to_numpy()).astype("timedelta64[s]").astype(np.int64)
    after = index[1:]
    early = after.hour <= 4  # the clock changes in the small hours
    spring = np.flatnonzero((step == 7200) & early & np.isin(after.month, (3, 4)))
    autumn = np.flatnonzero((step == 0) & early & np.isin(after.month, (10, 11)))
    if spring.size == 0 or spring.size != autumn.size or np.any(autumn <= spring):
        return index, 0
    if spring.size > 1 and np.any(spring[1:] <= autumn[:-1]):
        return index, 0
    shift = np.zeros(len(index), dtype=np.int64)
    for i, j in zip(spring, autumn, strict=True):
        shift[i + 1 : j + 1] = 1  # rows from the spring gap to the first of the repeated hours
    moved = index - pd.to_timedelta(shift, unit="h")
    return pd.DatetimeIndex(moved), int(shift.sum())


_TIME_NAMES = ("time", "date", "timestamp", "datetime")
_TEMP_NAMES = ("outdoor_c", "temp", "t_out", "dry_bulb", "drybulb", "air")


def _pick(columns: list[str], keys: tuple[str, ...], exclude: str | None) -> str | None:
    for key in keys:
        for c in columns:
            if c != exclude and key in c.lower():
                return c
    return None


def _read_csv(path: Path, year: int | None) -> pd.Series:
    name = f"weather CSV {path}"
    sep, count = header_separator(path)
    if count == 0:
        raise InputDataError(
            f"{name} has one column; it needs a timestamp column and a temperature column "
            "(degC) separated by commas, e.g. 'time,outdoor_c'."
        )
    df = read_text_csv(
        path,
        sep,
        f"{name}: give a CSV with a header line and two columns: timestamp (e.g. 2024-01-01 "
        "00:00) and outdoor temperature in degC.",
    )
    cols = [str(c) for c in df.columns]
    if len(cols) < 2:
        raise InputDataError(
            f"{name} has {len(cols)} column(s); it needs a timestamp column and a temperature "
            "column (degC), e.g. 'time,outdoor_c'."
        )
    df.columns = cols
    tcol = _pick(cols, _TIME_NAMES, None) or cols[0]
    vcol = _pick(cols, _TEMP_NAMES, tcol) or next(c for c in cols if c != tcol)

    def row_of(i: int) -> str:
        return f"row {i + 1} (line {i + 2})"

    index = hour_index(df[tcol], lambda i: f"{name}: {row_of(i)} has {tcol}")
    values = pd.to_numeric(df[vcol].str.replace(",", ".", regex=False), errors="coerce")
    if values.isna().any():
        i = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise InputDataError(
            f"{name}: {row_of(i)} has {vcol} {df[vcol].iloc[i]!r}, not a number. Fill the "
            "missing hour (e.g. interpolate from its neighbours) or fix the value."
        )
    t = values.to_numpy(dtype=float)
    _check_values(name, t, row_of)
    _check_hourly(name, index, row_of)
    s = _series(t, index, source=str(path), format="csv", year=None)
    return _select_year(name, s, year, allow_any_year=True)
