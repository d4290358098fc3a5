"""Hourly series readers (siting.sources.series): formats, year mapping and error classes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from siting.errors import InputDataError, SitingError
from siting.hourly import hourly_recovery
from siting.sources.series import (
    SeriesDuplicateError,
    SeriesError,
    SeriesGapError,
    SeriesLengthError,
    SeriesOrderError,
    SeriesValueError,
    read_electricity_price,
    read_it_load_profile,
    read_source_temperature,
    to_model_year,
)
from siting.sources.weather import typical_danish_year


def _write(tmp_path, name, times, values, header="time,value", sep=","):
    lines = [header] + [f"{t:%Y-%m-%d %H:%M}{sep}{v}" for t, v in zip(times, values, strict=True)]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def _year(y, freq="h"):
    return pd.date_range(f"{y}-01-01", f"{y + 1}-01-01", freq=freq, inclusive="left")


def test_it_load_csv_one_year(tmp_path):
    t = _year(2023)
    u = 0.6 + 0.2 * np.sin(np.arange(t.size) / 24)
    s = read_it_load_profile(_write(tmp_path, "it.csv", t, u, header="timestamp,utilisation"))
    assert s.name == "utilisation_it" and len(s) == 8760
    np.testing.assert_allclose(s.to_numpy(), u)
    assert s.attrs["year"] == 2023 and s.attrs["column"] == "utilisation"
    # MW with the nameplate
    mw = _write(tmp_path, "mw.csv", t, 20 * u, header="time,it_mw")
    np.testing.assert_allclose(read_it_load_profile(mw, nameplate_mw=20).to_numpy(), u)
    # the result drives the hourly model directly
    r = hourly_recovery(
        20.0,
        typical_danish_year(),
        1e3,
        capture_fraction=0.95,
        utilisation_it=to_model_year(s, 8760),
        source_in_c=27.0,
        source_out_c=17.0,
        return_c=40.0,
        supply_c=75.0,
    )
    assert r.recovered_heat_mwh_per_yr == pytest.approx(0.95 * 20 * u.sum())


def test_negative_load_and_mw_without_nameplate(tmp_path):
    t = _year(2023)
    u = np.full(t.size, 0.8)
    u[100] = -0.1
    with pytest.raises(SeriesValueError, match=r"row 101 \(line 102\).*never negative"):
        read_it_load_profile(_write(tmp_path, "neg.csv", t, u))
    with pytest.raises(SeriesValueError, match="nameplate_mw"):
        read_it_load_profile(_write(tmp_path, "mw.csv", t, np.full(t.size, 12.0)))


def test_errors_name_file_row_and_fix(tmp_path):
    t = _year(2023)
    v = np.full(t.size, 30.0).astype(object)
    v[5] = "n/a"
    p = _write(tmp_path, "src.csv", t, v)
    with pytest.raises(SeriesValueError, match=r"src.csv: row 6 \(line 7\).*'n/a', not a number"):
        read_source_temperature(p)
    # a repeated hour (daylight-saving autumn)
    dup = t.insert(1000, t[999])
    with pytest.raises(SeriesDuplicateError, match="row 1001.*repeats the hour"):
        read_source_temperature(_write(tmp_path, "dup.csv", dup, np.full(dup.size, 30.0)))
    # a missing hour (daylight-saving spring)
    gap = t.delete(2000)
    with pytest.raises(SeriesGapError, match="row 2001.*1 hour\\(s\\) missing"):
        read_source_temperature(_write(tmp_path, "gap.csv", gap, np.full(gap.size, 30.0)))
    swapped = t.to_numpy().copy()
    swapped[[10, 11]] = swapped[[11, 10]]
    with pytest.raises(SeriesOrderError, match="Sort the rows"):
        read_source_temperature(
            _write(tmp_path, "order.csv", pd.DatetimeIndex(swapped), np.full(t.size, 30.0))
        )
    with pytest.raises(SeriesLengthError, match="not a whole year"):
        read_source_temperature(_write(tmp_path, "short.csv", t[:5000], np.full(5000, 30.0)))
    with pytest.raises(SeriesValueError, match="kelvin"):
        read_source_temperature(_write(tmp_path, "k.csv", t, np.full(t.size, 300.0)))
    with pytest.raises(SeriesError, match="does not exist"):
        read_source_temperature(tmp_path / "nope.csv")
    # all are the project's error types, so the CLI reports them as input problems
    assert issubclass(SeriesGapError, InputDataError) and issubclass(SeriesError, SitingError)


def test_price_units_decimal_comma_negative_and_quarter_hours(tmp_path):
    t = _year(2024)  # leap year: 8784 hours
    p = 50.0 + 40.0 * np.cos(np.arange(t.size) / 24.0)
    p[10] = -25.5
    text = [f"{x:.2f}".replace(".", ",") for x in p * 7.46]
    path = _write(tmp_path, "dkk.csv", t, text, header="HourDK;SpotPriceDKK", sep=";")
    s = read_electricity_price(path, unit="DKK/MWh")
    assert len(s) == 8784 and s.name == "electricity_price_eur_per_mwh"
    np.testing.assert_allclose(s.to_numpy(), p, atol=0.01 / 7.46)
    # 15-minute prices become hourly means
    q = pd.date_range("2023-01-01", "2024-01-01", freq="15min", inclusive="left")
    qv = np.tile([10.0, 20.0, 30.0, 40.0], q.size // 4)
    hourly = read_electricity_price(_write(tmp_path, "q.csv", q, qv, header="time,price"))
    assert len(hourly) == 8760 and np.all(hourly.to_numpy() == 25.0)
    assert hourly.attrs["rows_per_hour"] == 4
    with pytest.raises(SeriesError, match="unit="):
        read_electricity_price(path, unit="USD/MWh")
    with pytest.raises(SeriesValueError, match="Check the unit"):
        read_electricity_price(_write(tmp_path, "kwh.csv", _year(2023), np.full(8760, 9e4)))


def test_two_price_areas_are_a_duplicate_with_a_hint(tmp_path):
    t = _year(2023)
    rows = ["HourUTC,PriceArea,SpotPriceEUR"] + [
        f"{x:%Y-%m-%dT%H:%M:%S},{area},{60.0}" for x in t for area in ("DK1", "DK2")
    ]
    path = tmp_path / "elspot.csv"
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(SeriesDuplicateError, match="price areas"):
        read_electricity_price(path)
    one = ["HourUTC,PriceArea,SpotPriceEUR"] + [f"{x:%Y-%m-%dT%H:%M:%S},DK1,60.0" for x in t]
    path.write_text("\n".join(one) + "\n")
    assert read_electricity_price(path).attrs["column"] == "SpotPriceEUR"


def test_parquet_multi_year_and_utc_offsets(tmp_path):
    t = pd.date_range(
        "2021-01-01", "2023-01-02", freq="h", inclusive="left", tz="Europe/Copenhagen"
    )
    df = pd.DataFrame({"time": t, "source_c": 25.0 + (t.year - 2021) * 5.0})
    path = tmp_path / "src.parquet"
    df.to_parquet(path)
    last = read_source_temperature(path)  # UTC: the last complete calendar year is 2022
    assert last.attrs["year"] == 2022 and len(last) == 8760
    first = read_source_temperature(path, year=2021)
    # converted to UTC: 2021-12-31 23:00 UTC is local midnight of 2022, a 2022 row
    assert first.iloc[0] == 25.0 and first.iloc[-2] == 25.0 and first.iloc[-1] == 30.0
    with pytest.raises(SeriesLengthError, match="complete years: 2021, 2022"):
        read_source_temperature(path, year=2020)
    # several value columns and none named like a temperature
    df2 = pd.DataFrame({"time": _year(2023), "a": 1.0, "b": 2.0})
    df2.to_parquet(tmp_path / "ab.parquet")
    with pytest.raises(SeriesError, match="value_column"):
        read_source_temperature(tmp_path / "ab.parquet")
    assert read_source_temperature(tmp_path / "ab.parquet", value_column="b").iloc[0] == 2.0


def test_mid_year_file_rotated_and_leap_mapping(tmp_path):
    # July 2023 to June 2024 holds 29 February 2024: 8784 hours, rotated to start 1 January
    t = pd.date_range("2023-07-01", "2024-07-01", freq="h", inclusive="left")
    v = t.day_of_year.to_numpy() + t.hour.to_numpy() / 100.0
    s = read_it_load_profile(_write(tmp_path, "mid.csv", t, v / 400.0))
    assert len(s) == 8784 and s.index[0] == pd.Timestamp("2000-01-01")
    assert s.attrs["year"] is None and s.attrs["start"].startswith("2023-07-01")
    # onto a non-leap model year: 29 February is dropped, 1 March follows 28 February
    on8760 = to_model_year(s, typical_danish_year())
    assert on8760.size == 8760
    assert on8760[59 * 24] == pytest.approx((61 + 0.0) / 400.0)  # 1 March 2024 is day 61
    # a non-leap series onto a leap model year: 29 February repeats 28 February
    t23 = _year(2023)
    s23 = read_it_load_profile(_write(tmp_path, "y23.csv", t23, np.arange(8760) / 8760.0))
    on8784 = to_model_year(s23, 8784)
    np.testing.assert_array_equal(on8784[59 * 24 : 60 * 24], on8784[58 * 24 : 59 * 24])
    np.testing.assert_array_equal(on8784[60 * 24 :], s23.to_numpy()[59 * 24 :])
    np.testing.assert_array_equal(to_model_year(s23, 8760), s23.to_numpy())
    with pytest.raises(SeriesLengthError, match="not a year"):
        to_model_year(s23, 100)
    with pytest.raises(SeriesLengthError, match="no value for"):
        to_model_year(s23.iloc[:100], 8760)
