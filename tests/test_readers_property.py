"""Property-based tests of the sites and network readers (hypothesis).

Random field values and geometries are written to GeoJSON and read back. Properties: the
reader raises nothing but SitingError subclasses; what it returns holds only valid values
(so nothing invalid can reach a ranking); and a value that is plainly invalid (text with
units, a number out of range, a list) is always an error, never a silent default.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from siting import Study
from siting.config import COOLING_TYPES
from siting.errors import SitingError
from siting.sources.network import read_network
from siting.sources.sites import read_sites
from siting.validate import CAPACITY_MW, IT_LOAD_MW, RETURN_TEMP_C, SUPPLY_TEMP_C

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
DECIMAL = re.compile(r"^\s*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$")
LON, LAT = 24.94, 60.17

# ----------------------------------------------------------------------------- values

numbers = st.one_of(
    st.integers(min_value=-(10**6), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0, 0.0, -0.0, 1e-300, 5, 20.5, 2000, 2000.0001, 1e9, -10, 75, 40]),
)
texts = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["20 MW", "5,5", "nan", "inf", "", "  ", "20", " 7.5 ", "1e3", "-3", "MW"]),
)
values = st.one_of(
    st.none(),
    numbers,
    texts,
    st.booleans(),
    st.lists(st.integers(-5, 5), max_size=3),
    st.dictionaries(st.sampled_from(["a", "mw"]), st.integers(-5, 5), max_size=2),
)


def _number_or_none(v):
    """(True, float|None) when v is a number/empty to the reader's rules; (False, _) when it
    is plainly not a number; None when GDAL may coerce it (booleans)."""
    if isinstance(v, bool):
        return None
    if isinstance(v, str):
        v = v.split("\x00")[0]  # GDAL writes C strings: a NUL ends the text it stores
    if v is None or (isinstance(v, str) and not v.strip()):
        return True, None
    if isinstance(v, int | float):
        return (True, None) if isinstance(v, float) and math.isnan(v) else (True, float(v))
    if isinstance(v, str):
        return (True, float(v)) if DECIMAL.match(v) else (False, None)
    return False, None  # lists, objects


# ----------------------------------------------------------------------------- geometries


def _square(x: float, y: float, d: float = 0.0005) -> dict:
    ring = [[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]
    return {"type": "Polygon", "coordinates": [ring]}


site_geoms = st.one_of(
    st.tuples(st.floats(-0.01, 0.01), st.floats(-0.01, 0.01)).map(
        lambda d: {"type": "Point", "coordinates": [LON + d[0], LAT + d[1]]}
    ),
    st.just(_square(LON, LAT)),
    st.just(  # zero area: all points on a line
        {"type": "Polygon", "coordinates": [[[LON, LAT], [LON + 0.001, LAT], [LON, LAT]]]}
    ),
    st.just(  # bow tie: self-intersecting
        {
            "type": "Polygon",
            "coordinates": [
                [[LON, LAT], [LON + 0.001, LAT + 0.001], [LON + 0.001, LAT], [LON, LAT + 0.001]]
                + [[LON, LAT]]
            ],
        }
    ),
    st.just({"type": "LineString", "coordinates": [[LON, LAT], [LON + 0.001, LAT]]}),
    st.just({"type": "Point", "coordinates": [500.0, 95.0]}),
    st.none(),
)
pipe_geoms = st.one_of(
    st.tuples(st.floats(-0.01, 0.01), st.floats(-0.01, 0.01), st.floats(-0.01, 0.01)).map(
        lambda d: {
            "type": "LineString",
            "coordinates": [[LON + d[0], LAT + d[1]], [LON + d[2], LAT + d[0]]],
        }
    ),
    st.just({"type": "LineString", "coordinates": [[LON, LAT], [LON, LAT]]}),  # zero length
    st.just({"type": "Point", "coordinates": [LON, LAT]}),
    st.just(_square(LON, LAT)),
    st.just({"type": "Polygon", "coordinates": [[[LON, LAT], [LON + 0.001, LAT], [LON, LAT]]]}),
    st.none(),
)


def _write(path: Path, features: list[tuple[dict, dict | None]]) -> Path:
    doc = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": props, "geometry": geom} for props, geom in features
        ],
    }
    path.write_text(json.dumps(doc))  # NaN/Infinity are written as such: invalid JSON too
    return path


def _read(reader, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return reader(*args)


def _geometry_ok(geoms) -> bool:
    for g in geoms:
        if g is None or g.is_empty or not np.isfinite(shapely.get_coordinates(g)).all():
            return False
        if g.geom_type in ("Polygon", "MultiPolygon") and not (g.is_valid and g.area > 0):
            return False
        if g.geom_type in ("LineString", "MultiLineString") and g.length <= 0:
            return False
    return True


# ----------------------------------------------------------------------------- sites

good_points = st.tuples(st.floats(-0.01, 0.01), st.floats(-0.01, 0.01)).map(
    lambda d: {"type": "Point", "coordinates": [LON + d[0], LAT + d[1]]}
)
any_sites = st.lists(
    st.tuples(
        site_geoms,
        values,  # it_load_mw
        st.one_of(st.none(), st.sampled_from(COOLING_TYPES), st.text(max_size=8), values),
        st.one_of(st.none(), st.text(max_size=6), st.integers(0, 3)),  # site_id
    ),
    min_size=1,
    max_size=6,
)
# valid places and cooling, random IT loads: exercises the value checks themselves
valued_sites = st.lists(
    st.tuples(
        good_points,
        values,
        st.one_of(st.none(), st.sampled_from(COOLING_TYPES)),
        st.none(),
    ),
    min_size=1,
    max_size=5,
)


def _check_sites(rows, folder: Path) -> bool:
    """Write, read, check the properties; True when the file was accepted."""
    feats = []
    for geom, load, cooling, sid in rows:
        props = {"it_load_mw": load, "cooling": cooling}
        if sid is not None:
            props["site_id"] = sid
        feats.append((props, geom))
    path = _write(folder / "s.geojson", feats)
    try:
        sites = _read(read_sites, path, Study(default_it_load_mw=5.0))
    except SitingError:
        sites = None
    except Exception as exc:  # the property: nothing but SitingError
        pytest.fail(f"unexpected {type(exc).__name__}: {exc}")
    loads = [_number_or_none(load) for _, load, _, _ in rows]
    if any(v is not None and not _acceptable(v, IT_LOAD_MW) for v in loads):
        assert sites is None, f"an invalid it_load_mw was accepted: {rows}"
    if sites is None:
        return False
    # what passed holds only valid values
    assert np.isfinite(sites["it_load_mw"]).all()
    assert ((sites["it_load_mw"] > 0) & (sites["it_load_mw"] <= IT_LOAD_MW.hard_max)).all()
    assert sites["cooling"].isin(COOLING_TYPES).all()
    assert sites["site_id"].is_unique
    assert _geometry_ok(sites.geometry)
    # and valid values arrive unchanged (an empty one as the default)
    for verdict, got in zip(loads, sites["it_load_mw"], strict=True):
        if verdict is not None:
            want = 5.0 if verdict[1] is None else verdict[1]
            assert got == pytest.approx(want, rel=1e-9)
    return True


def _acceptable(verdict: tuple[bool, float | None], rng) -> bool:
    ok, number = verdict
    if not ok:
        return False
    found = None if number is None else rng.problem(number)
    return found is None or found[0] != "error"


@SETTINGS
@given(rows=any_sites)
def test_sites_reader_any_input_only_siting_errors(rows, tmp_path_factory):
    _check_sites(rows, tmp_path_factory.mktemp("sites"))


@SETTINGS
@given(rows=valued_sites)
def test_sites_reader_bad_values_are_errors_good_ones_pass(rows, tmp_path_factory):
    accepted = _check_sites(rows, tmp_path_factory.mktemp("sites"))
    event(f"accepted={accepted}")


# ----------------------------------------------------------------------------- networks

field_names = st.sampled_from(
    [
        "supply_temp_c",
        "supply_tem",
        "Supply_Temperature",
        "return_temp_c",
        "return_tem",
        "capacity_mw",
        "capacity_m",
        "CAPACITY",
        "name",
        "supplytemp",
        "other",
    ]
)
good_lines = st.tuples(st.floats(-0.01, 0.01), st.floats(-0.01, 0.01), st.floats(0.0005, 0.01)).map(
    lambda d: {
        "type": "LineString",
        "coordinates": [[LON + d[0], LAT + d[1]], [LON + d[0] + d[2], LAT + d[1]]],
    }
)
any_pipes = st.lists(
    st.tuples(pipe_geoms, st.dictionaries(field_names, values, max_size=4)),
    min_size=1,
    max_size=6,
)
numberish = st.one_of(st.none(), numbers, texts, st.booleans())
valued_pipes = st.lists(
    st.tuples(
        good_lines,
        st.fixed_dictionaries(
            {},
            optional={
                "supply_tem": numberish,
                "return_temp_c": numberish,
                "capacity_m": numberish,
                "name": st.text(max_size=5),
            },
        ),
    ),
    min_size=1,
    max_size=5,
)
RANGES = {
    "supply_temp_c": SUPPLY_TEMP_C,
    "return_temp_c": RETURN_TEMP_C,
    "capacity_mw": CAPACITY_MW,
}
ALIASES = {
    "supply_temp_c": ("supply_temp_c", "supply_tem", "supply_temperature"),
    "return_temp_c": ("return_temp_c", "return_tem"),
    "capacity_mw": ("capacity_mw", "capacity_m", "capacity"),
}


def _check_network(rows, folder: Path) -> bool:
    path = _write(folder / "n.geojson", [(props, geom) for geom, props in rows])
    try:
        net = _read(read_network, path)
    except SitingError:
        net = None
    except Exception as exc:
        pytest.fail(f"unexpected {type(exc).__name__}: {exc}")
    # a plainly invalid value of a recognised field is always an error
    for _, props in rows:
        lower = {k.lower(): v for k, v in props.items()}
        for ours, names in ALIASES.items():
            present = [n for n in names if n in lower]
            if len(present) != 1:
                continue  # none, or ambiguous (an error of its own)
            verdict = _number_or_none(lower[present[0]])
            if verdict is not None and not _acceptable(verdict, RANGES[ours]):
                assert net is None, f"{ours}={lower[present[0]]!r} was accepted: {rows}"
    if net is None:
        return False
    for ours, rng in RANGES.items():
        col = net[ours].to_numpy(dtype=float)
        for v in col[~np.isnan(col)]:
            found = rng.problem(float(v))
            assert found is None or found[0] != "error", (ours, v)
    both = net[["supply_temp_c", "return_temp_c"]].dropna()
    assert (both["supply_temp_c"] > both["return_temp_c"]).all()
    assert set(net["kind"]) <= {"pipe", "plant"}
    assert _geometry_ok(net.geometry)
    return True


@SETTINGS
@given(rows=any_pipes)
def test_network_reader_any_input_only_siting_errors(rows, tmp_path_factory):
    _check_network(rows, tmp_path_factory.mktemp("net"))


@SETTINGS
@given(rows=valued_pipes)
def test_network_reader_bad_values_are_errors_good_ones_pass(rows, tmp_path_factory):
    accepted = _check_network(rows, tmp_path_factory.mktemp("net"))
    event(f"accepted={accepted}")
