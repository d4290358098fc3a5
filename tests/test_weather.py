"""Weather readers and the built-in typical Danish year (siting.sources.weather)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import shared_file

from siting.errors import InputDataError
from siting.sources.weather import heating_degree_days, read_weather, typical_danish_year

TAASTRUP = ("weather", "dk_taastrup_hourly_2014_2018.dwf")
# PROVENANCE.md weather/: HDD(17 degC) per year, daily-mean convention.
TAASTRUP_HDD17 = {2014: 2630, 2015: 2839, 2016: 2932, 2017: 2902, 2018: 2797}


def _is_hourly(s: pd.Series) -> bool:
    step = np.diff(s.index.to_numpy()).astype("timedelta64[s]").astype(int)
    return bool(np.all(step == 3600))


# --- real files (../shared/data/weather, see PROVENANCE.md) --------------------------------------


@pytest.mark.parametrize(
    ("name", "hdd17", "t_min", "t_max", "t_mean"),
    [
        ("DNK_Copenhagen.061800_IWEC.epw", 3219, -9.6, 26.8, 8.32),
        ("FIN_Helsinki.029740_IWEC.epw", 4374, -21.7, 28.7, 5.18),
    ],
)
def test_epw_matches_provenance(name, hdd17, t_min, t_max, t_mean):
    s = read_weather(shared_file("weather", name))
    assert len(s) == 8760 and _is_hourly(s)
    assert s.name == "outdoor_c" and s.attrs["format"] == "epw"
    assert s.min() == pytest.approx(t_min, abs=0.05)
    assert s.max() == pytest.approx(t_max, abs=0.05)
    assert s.mean() == pytest.approx(t_mean, abs=0.01)
    assert heating_degree_days(s) == pytest.approx(hdd17, abs=2)
    # typical-year EPW: months from different years get one nominal non-leap year
    assert s.index[0] == pd.Timestamp("2001-01-01 00:00")


def test_taastrup_years_match_provenance():
    path = shared_file(*TAASTRUP)
    lows, highs = [], []
    for year, hdd in TAASTRUP_HDD17.items():
        s = read_weather(path, year=year)
        assert len(s) == (8784 if year == 2016 else 8760)
        assert _is_hourly(s) and s.index[0] == pd.Timestamp(year=year, month=1, day=1)
        assert heating_degree_days(s) == pytest.approx(hdd, abs=2)
        lows.append(s.min())
        highs.append(s.max())
    assert min(lows) == pytest.approx(-12.5, abs=0.05)
    assert max(highs) == pytest.approx(31.9, abs=0.05)


def test_taastrup_default_is_last_complete_year_and_summer_time_is_undone():
    s = read_weather(shared_file(*TAASTRUP))
    assert s.attrs["year"] == 2018 and len(s) == 8760
    # 2014-2016 are logged in Danish summer time (gap in March, repeat in October); 2018 is not
    s16 = read_weather(shared_file(*TAASTRUP), year=2016)
    assert s16.attrs["dst_hours_shifted"] > 0 and _is_hourly(s16)


def test_taastrup_missing_year_names_the_complete_ones():
    with pytest.raises(InputDataError, match=r"2019.*2014, 2015, 2016, 2017, 2018"):
        read_weather(shared_file(*TAASTRUP), year=2019)


# --- built-in typical year ------------------------------------------------------------------------


def test_typical_danish_year_is_a_plausible_danish_year():
    s = typical_danish_year()
    assert len(s) == 8760 and _is_hourly(s) and s.attrs["format"] == "typical"
    assert s.mean() == pytest.approx(8.9, abs=0.05)  # DMI national mean 2006-2015
    # between the warm Taastrup years (2630-2932) and the older Copenhagen IWEC year (3219)
    assert 2850 < heating_degree_days(s) < 3100
    monthly = s.groupby(s.index.month).mean()
    assert monthly.idxmin() in (1, 2) and monthly.idxmax() in (7, 8)
    assert monthly[1] == pytest.approx(1.0, abs=1.0) and monthly[7] == pytest.approx(17, abs=1)
    day = s.groupby(s.index.hour).mean()
    assert 12 <= day.idxmax() <= 16 and day.idxmin() <= 5


def test_typical_year_is_close_to_copenhagen_month_by_month():
    cph = read_weather(shared_file("weather", "DNK_Copenhagen.061800_IWEC.epw"))
    typ = typical_danish_year()
    diff = typ.groupby(typ.index.month).mean() - cph.groupby(cph.index.month).mean()
    # warmer by the 0.6 K the annual means differ, otherwise the same seasonal shape
    assert np.abs(diff - diff.mean()).max() < 1.5


def test_heating_degree_days_constant_weather():
    s = pd.Series(5.0, index=pd.date_range("2023-01-01", periods=8760, freq="h"))
    assert heating_degree_days(s) == pytest.approx(12.0 * 365)
    assert heating_degree_days(s + 20) == 0.0


# --- CSV -----------------------------------------------------------------------------------------


def _write_csv(path, index, values, header="time,outdoor_c"):
    lines = [header] + [f"{t:%Y-%m-%d %H:%M},{v}" for t, v in zip(index, values, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _year(year=2023):
    idx = pd.date_range(f"{year}-01-01", periods=8784 if year % 4 == 0 else 8760, freq="h")
    return idx, 10 + 8 * np.sin(np.arange(idx.size) * 2 * np.pi / idx.size)


def test_csv_round_trip(tmp_path):
    idx, t = _year(2023)
    s = read_weather(_write_csv(tmp_path / "w.csv", idx, t))
    assert len(s) == 8760 and s.attrs["format"] == "csv" and s.attrs["year"] == 2023
    np.testing.assert_allclose(s.to_numpy(), t)
    assert (s.index == idx).all()


def test_csv_leap_year_keeps_29_february(tmp_path):
    idx, t = _year(2024)
    s = read_weather(_write_csv(tmp_path / "w.csv", idx, t))
    assert len(s) == 8784 and ((s.index.month == 2) & (s.index.day == 29)).sum() == 24


def test_csv_any_start_and_column_names(tmp_path):
    idx = pd.date_range("2022-07-01", periods=8760, freq="h")
    path = tmp_path / "w.csv"
    lines = ["Temperature (C);Date"] + [f"{5.5};{t:%Y-%m-%dT%H:%M}" for t in idx]
    path.write_text("\n".join(lines))
    s = read_weather(path)
    assert len(s) == 8760 and s.index[0] == idx[0] and s.attrs["year"] is None


def test_csv_multi_year_selects_last_complete_or_given(tmp_path):
    idx = pd.date_range("2021-03-01", "2023-06-30 23:00", freq="h")
    path = _write_csv(tmp_path / "w.csv", idx, np.zeros(idx.size))
    assert read_weather(path).attrs["year"] == 2022
    with pytest.raises(InputDataError, match="year 2023 is not complete"):
        read_weather(path, year=2023)


def test_csv_utc_offsets_are_converted(tmp_path):
    idx = pd.date_range("2023-01-01", periods=8760, freq="h", tz="Europe/Copenhagen")
    path = tmp_path / "w.csv"
    path.write_text("time,temp\n" + "\n".join(f"{t.isoformat()},1.0" for t in idx))
    s = read_weather(path)
    assert len(s) == 8760 and _is_hourly(s) and s.index.tz is None
    assert s.index[0] == pd.Timestamp("2022-12-31 23:00")  # UTC


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (
            lambda i, t: (i.delete(100), np.delete(t, 100)),
            r"row 101 \(line 102\).*follows.*1 hour\(s\) missing",
        ),
        (
            lambda i, t: (i.insert(51, i[50]), np.insert(t, 51, 0.0)),
            r"row 52 \(line 53\) repeats the hour.*daylight-saving",
        ),
        (lambda i, t: (i[:-5], t[:-5]), r"8755 hourly rows.*8760"),
        (lambda i, t: (i, np.where(np.arange(t.size) == 7, 290.0, t)), r"row 8 \(line 9\).*kelvin"),
        (
            lambda i, t: (i[[0, 2, 1, *range(3, i.size)]], t),
            r"row 2 \(line 3\).*1 hour\(s\) missing",
        ),
    ],
    ids=["gap", "duplicate", "short", "kelvin", "order"],
)
def test_csv_errors_name_the_row(tmp_path, edit, match):
    idx, t = _year(2023)
    idx, t = edit(idx, t)
    with pytest.raises(InputDataError, match=match):
        read_weather(_write_csv(tmp_path / "w.csv", idx, t))


def test_csv_non_numeric_and_bad_timestamp(tmp_path):
    idx, t = _year(2023)
    t = t.astype(object)
    t[9] = "n/a"
    with pytest.raises(
        InputDataError, match=r"row 10 \(line 11\) has outdoor_c 'n/a'.*interpolate"
    ):
        read_weather(_write_csv(tmp_path / "a.csv", idx, t))
    path = _write_csv(tmp_path / "b.csv", idx, np.zeros(idx.size))
    text = path.read_text().splitlines()
    text[5] = "yesterday,1.0"
    path.write_text("\n".join(text))
    with pytest.raises(InputDataError, match=r"row 5 \(line 6\).*'yesterday'.*ISO"):
        read_weather(path)


def test_missing_file_and_one_column(tmp_path):
    with pytest.raises(InputDataError, match="does not exist"):
        read_weather(tmp_path / "nope.csv")
    (tmp_path / "one.csv").write_text("t\n1\n2\n")
    with pytest.raises(InputDataError, match="timestamp column and a temperature"):
        read_weather(tmp_path / "one.csv")


# --- EPW and dwf layouts (synthetic) --------------------------------------------------------------


def _epw(path, temps):
    head = ["LOCATION,TEST,-,DNK,x,0,55,12,1,5"] + [f"HEADER {k}" for k in range(7)]
    idx = pd.date_range("2001-01-01", periods=len(temps), freq="h")
    rows = [
        f"1995,{t.month},{t.day},{t.hour + 1},60,x,{v},1.0,80,101000"
        for t, v in zip(idx, temps, strict=True)
    ]
    path.write_text("\n".join(head + rows) + "\n")
    return path


def test_epw_synthetic_and_missing_value(tmp_path):
    temps = np.linspace(-5, 25, 8760)
    s = read_weather(_epw(tmp_path / "a.epw", temps))
    np.testing.assert_allclose(s.to_numpy(), temps)
    assert s.index[0] == pd.Timestamp("1995-01-01 00:00")  # hour 1 = hour ending 01:00
    temps[300] = 99.9  # EPW missing-value code
    with pytest.raises(InputDataError, match=r"data row 301 \(line 309\)"):
        read_weather(_epw(tmp_path / "b.epw", temps))
    with pytest.raises(InputDataError, match="8000 hourly rows"):
        read_weather(_epw(tmp_path / "c.epw", np.zeros(8000)))


def test_dwf_synthetic_with_gap(tmp_path):
    idx = pd.date_range("2020-01-01 01:00", "2021-01-01 00:00", freq="h")  # hour-ending labels
    header = "dwf-0.0 -- test\n\nStation: X\n\n" + "-" * 20 + "\n"
    cols = "Year\tMonth\tDay\tHour\tGlobRad\tAirTemp\nyear\tmonth\tday\thour\tW/m^2\tdgC\n"
    rows = [f"{t.year}\t{t.month}\t{t.day}\t{t.hour}\t0\t{k % 7}" for k, t in enumerate(idx)]
    path = tmp_path / "a.dwf"
    path.write_text(header + cols + "\n".join(rows) + "\n")
    s = read_weather(path)
    assert len(s) == 8784 and s.attrs["year"] == 2020 and s.index[0] == pd.Timestamp("2020-01-01")
    assert s.iloc[8] == 1.0  # AirTemp picked by name, not position
    del rows[1000]
    path.write_text(header + cols + "\n".join(rows) + "\n")
    with pytest.raises(InputDataError, match=r"line 1008 .* 1 hour\(s\) missing"):
        read_weather(path)
