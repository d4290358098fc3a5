"""Reading a small hourly CSV as text: the separator from the header, every cell as typed.

Shared by the weather reader and the hourly-series readers so both treat files alike.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from siting.errors import InputDataError

SEPARATORS = (",", ";", "\t")


def header_separator(path: Path) -> tuple[str, int]:
    """The separator the header line uses most, and how often it occurs there.

    The header decides: a decimal comma in the data cannot fool it.
    """
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        header = fh.readline()
    sep = max(SEPARATORS, key=header.count)
    return sep, header.count(sep)


def read_text_csv(
    path: Path, sep: str, fix: str, error: type[InputDataError] = InputDataError
) -> pd.DataFrame:
    """All cells as text (raw, so errors can quote a bad cell); `fix` ends the error message."""
    try:
        return pd.read_csv(
            path,
            sep=sep,
            dtype=str,
            skipinitialspace=True,
            keep_default_na=False,  # show the user the raw text of a bad cell
            encoding="utf-8-sig",
        )
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise error(f"{path} could not be read as CSV ({exc}). {fix}") from exc


def hour_index(
    raw_time: pd.Series,
    bad_row: Callable[[int], str],
    error: type[InputDataError] = InputDataError,
) -> pd.DatetimeIndex:
    """Timestamps as a naive UTC DatetimeIndex; the first unreadable one is an error.

    Mixed UTC offsets (daylight-saving local time) are read as UTC. `bad_row(i)` names row
    `i` and its column for the message (e.g. "weather CSV f.csv: row 3 (line 4) has time").
    """
    if pd.api.types.is_datetime64_any_dtype(raw_time):
        stamps = pd.Series(raw_time)
    else:
        text = raw_time.astype(str)
        try:
            stamps = pd.to_datetime(text, errors="coerce", format="mixed")
        except (ValueError, TypeError):  # mixed UTC offsets (daylight-saving local time)
            stamps = pd.to_datetime(text, errors="coerce", format="mixed", utc=True)
    if stamps.isna().any():
        i = int(np.flatnonzero(stamps.isna().to_numpy())[0])
        raise error(
            f"{bad_row(i)} {raw_time.iloc[i]!r}, not a timestamp. Use ISO format such as "
            "2024-01-31 13:00 (one row per hour, hour-start labels)."
        )
    index = pd.DatetimeIndex(stamps)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    return index
