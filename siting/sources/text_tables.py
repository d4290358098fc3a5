"""Reading a small hourly CSV as text: the separator from the header, every cell as typed.

Shared by the weather reader and the hourly-series readers so both treat files alike.
"""

from __future__ import annotations

from pathlib import Path

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
