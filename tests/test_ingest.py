"""The one-pass reader gives pyrosm's layers: the same rows, ids, geometries and values of
every tag it keeps (checked against pyrosm's own reads), and only the tags the study reads."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import shared_file

from siting import demand
from siting.sources import ingest, sites
from siting.sources.osm import _pyrosm_layers, _tag_dicts
from siting.sources.power import exclusion_layer, power_layer

pytestmark = pytest.mark.skipif(not ingest.available(), reason="pyrosm's C decoder is missing")


def _text(values) -> np.ndarray:
    """Values as an object array with None where missing."""
    out = pd.Series(values).astype(object).to_numpy().copy()
    out[pd.isna(out)] = None
    return out


def _same(spec: ingest.LayerSpec, mine, theirs) -> None:
    """`mine` has pyrosm's rows (`theirs`) in its order, their ids, types, geometries and
    the values of every tag of `spec.columns` (pyrosm's column, or its JSON `tags`)."""
    name = spec.name
    if theirs is None or len(theirs) == 0:
        assert mine is None or len(mine) == 0, name
        return
    assert mine is not None, name
    extra = ["u", "v", "length"] if spec.network else []
    assert list(mine.columns) == ["id", "osm_type", *spec.columns, *extra, "geometry"], name
    assert len(mine) == len(theirs), name
    assert (mine["id"].to_numpy() == theirs["id"].to_numpy()).all(), name
    assert (_text(mine["osm_type"]) == _text(theirs["osm_type"])).all(), name
    a, b = mine.geometry.values, theirs.geometry.values
    assert (shapely.get_type_id(a) == shapely.get_type_id(b)).all(), name
    assert shapely.equals_exact(a, b, 0).all(), name
    for col in extra:
        assert (mine[col].to_numpy() == theirs[col].to_numpy()).all(), (name, col)
    dicts = _tag_dicts(theirs) if "tags" in theirs else None
    for col in spec.columns:
        dtype = mine[col].dtype
        # enumerations as categoricals; free text (names, addresses, numbers) as text
        wanted = spec.categorical and col not in ingest.FREE_TEXT
        assert isinstance(dtype, pd.CategoricalDtype) == wanted, (name, col, dtype)
        x = _text(mine[col])
        if col in theirs:
            y = _text(theirs[col])
        else:
            y = np.full(len(theirs), None, dtype=object)
        if dicts is not None:  # pyrosm keeps the tags it has no column for as JSON
            miss = np.flatnonzero(pd.isna(y))
            y[miss] = [dicts.iloc[i].get(col) for i in miss]
        nx, ny = pd.isna(x), pd.isna(y)
        assert (nx == ny).all(), (name, col)
        assert (x[~nx] == y[~ny]).all(), (name, col)


def _check(path) -> dict:
    mine = ingest.read_layers(path)
    theirs = _pyrosm_layers(path, str(path), streets=True)
    assert set(mine) == set(theirs)
    specs = {s.name: s for s in ingest.layer_specs()}
    for name in mine:
        if name in ("power", "exclusions"):  # pyrosm's read and the layer made of it
            continue
        _same(specs[name], mine[name], theirs[name])
    # the power grid and exclusions: the layers siting.sources.power makes of pyrosm's reads
    for name, layer in (("power", power_layer), ("exclusions", exclusion_layer)):
        a, b = layer(mine[name]), theirs[name]
        assert list(a.columns) == list(b.columns), name
        assert len(a) == len(b), name
        assert shapely.equals_exact(a.geometry.values, b.geometry.values, 0).all(), name
        for col in a.columns.drop("geometry"):
            x, y = _text(a[col]), _text(b[col])
            assert (pd.isna(x) == pd.isna(y)).all(), (name, col)
            assert (x[pd.notna(x)] == y[pd.notna(y)]).all(), (name, col)
    return mine


def test_the_tags_the_study_reads_are_kept():
    """Every tag key demand and the candidate sites read is a column of the layers they
    read it from (the reader keeps no JSON `tags`: a key left out would read as absent)."""
    source = inspect.getsource(demand)
    demand_keys = set(re.findall(r"tags\.get\(\"([^\"]+)\"\)", source))
    demand_keys |= set(demand.HINT_KEYS) | set(demand.YEAR_KEYS) | {"building:part"}
    assert {"building:levels", "height", "addr:housenumber"} <= demand_keys
    assert demand_keys <= set(ingest.BUILDING_TAGS), demand_keys - set(ingest.BUILDING_TAGS)
    site_keys = set(re.findall(r"text\(\"([^\"]+)\"\)", inspect.getsource(sites)))
    assert {"name", "operator", "addr:street", "telecom"} <= site_keys
    for tags in (ingest.BUILDING_TAGS, ingest.DATA_CENTER_TAGS):
        assert site_keys <= set(tags), site_keys - set(tags)
    assert site_keys - {"telecom", "building"} <= set(ingest.LANDUSE_TAGS)
    assert "amenity" in ingest.LANDUSE_TAGS  # demand._landuse_of


@pytest.mark.parametrize(
    "name", ["copenhagen_north_lyngby_2022", "odense_se_2025", "aarhus_center_2021"]
)
def test_real_extracts_read_as_pyrosm_reads_them(name):
    mine = _check(shared_file("osm", f"{name}.osm.pbf"))
    assert len(mine["streets"]) > 500 and len(mine["buildings"]) > 50


def test_helsinki_relations_and_mixed_blocks(helsinki_pbf):
    # its last block mixes nodes, ways and relations; 63 buildings are multipolygons
    mine = _check(helsinki_pbf)
    kinds = mine["buildings"]["osm_type"].value_counts()
    assert kinds["relation"] > 50
    assert len(mine["pipes"]) > 0 and len(mine["addresses"]) > 1000


def _write(path, objects) -> None:
    import osmium

    m = osmium.osm.mutable
    with osmium.SimpleWriter(str(path)) as w:
        for kind, args in objects:
            if kind == "n":
                w.add_node(m.Node(id=args[0], location=args[1], tags=args[2]))
            elif kind == "w":
                w.add_way(m.Way(id=args[0], nodes=args[1], tags=args[2]))
            else:
                w.add_relation(m.Relation(id=args[0], members=args[1], tags=args[2]))


def _square(nid: int, x: float, y: float, d: float = 0.001) -> list:
    pts = [(x, y), (x + d, y), (x + d, y + d), (x, y + d)]
    return [("n", (nid + i, p, {})) for i, p in enumerate(pts)]


def test_unsorted_file_with_relations_first_and_node_features(tmp_path):
    """Relations before the ways, nodes after the ways, a plant as a node and as a way,
    a building ring drawn clockwise, a way with a missing node: still pyrosm's layers."""
    objs = [
        (
            "r",
            (
                1,
                [("w", 20, "outer"), ("w", 21, "inner")],
                {"type": "multipolygon", "building": "yes"},
            ),
        ),
        ("w", (10, [1, 2, 3, 4, 1], {"building": "industrial", "name": "Hall", "id": "x"})),
        ("w", (11, [4, 3, 2, 1, 4], {"building": "yes", "roof:shape": "flat"})),  # clockwise
        ("w", (12, [1, 3, 999], {"highway": "residential", "surface": "asphalt"})),  # 999 missing
        ("w", (13, [5, 6, 7, 8, 5], {"power": "plant", "plant:output:hot_water": "5 MW"})),
        ("w", (14, [5, 7], {"highway": "construction"})),  # excluded by pyrosm's filter
        ("w", (15, [9, 10, 11, 12, 9], {"landuse": "industrial"})),
    ]
    objs += _square(1, 12.50, 55.70)
    objs += _square(5, 12.51, 55.70)
    objs += _square(9, 12.52, 55.70, 0.01)
    objs += [
        ("n", (50, (12.53, 55.70), {"power": "generator", "generator:output:hot_water": "1"})),
        ("n", (51, (12.53, 55.71), {"addr:housenumber": "7", "addr:street": "Vej"})),
    ]
    # the relation's rings: an outer square and an inner one
    objs += _square(100, 12.60, 55.70, 0.01) + _square(110, 12.602, 55.702, 0.002)
    objs += [
        ("w", (20, [100, 101, 102, 103, 100], {})),
        ("w", (21, [110, 111, 112, 113, 110], {})),
    ]
    # untagged nodes after the relation: it is in the first block, not in the file's tail
    objs[1:1] = [("n", (10_000 + i, (12.7, 55.7 + i * 1e-6), {})) for i in range(9000)]
    path = tmp_path / "unsorted.osm.pbf"
    _write(path, objs)
    mine = _check(path)
    assert "relation" in set(mine["buildings"]["osm_type"])
    assert set(mine["plants"]["osm_type"]) == {"node", "way"}
    assert len(mine["streets"]) == 1  # the construction way is left out
    assert mine["addresses"]["addr:street"].tolist() == ["Vej"]
    ring = shapely.get_exterior_ring(mine["buildings"].geometry.values)
    assert shapely.is_ccw(ring).all()


def test_node_store_gives_the_decoders_floats_back():
    store = ingest.NodeStore()
    ids = np.array([5, 7, 9], dtype=np.int64)
    lon = (np.array([125905842, -1, 1799999999]) * 100).astype(np.float64) / 1e9
    lat = (np.array([557500743, 0, -899999999]) * 100).astype(np.float64) / 1e9
    store.add(ids, lon, lat)
    store.add(np.array([11], np.int64), np.array([0.123456789123]), np.array([1.0]))
    x, y, found = store.lookup(np.array([9, 4, 5, 11, 7], dtype=np.int64))
    assert found.tolist() == [True, False, True, True, True]
    assert x[0] == lon[2] and y[0] == lat[2] and x[2] == lon[0] and x[4] == lon[1]
    assert x[3] == 0.123456789123  # not a multiple of 100 nanodegrees: kept as float
    assert np.isnan(x[1])


def test_data_blobs_skips_the_header(helsinki_pbf):
    from pathlib import Path

    blobs = ingest.data_blobs(Path(helsinki_pbf))
    assert len(blobs) == 4
    assert (blobs[:, 0] > 0).all() and (blobs[:, 1] > 0).all()
    assert blobs[-1, 0] + blobs[-1, 1] == Path(helsinki_pbf).stat().st_size


def test_ring_orientation_is_geos_own():
    """The vectorised orientation test says what GEOS's says (`shapely.is_ccw`) on rings
    with ties, flat tops, repeated points, spikes and self-crossings, and on nearly
    collinear tops far from the origin that its floating-point filter cannot decide."""
    rng = np.random.default_rng(16)
    rings = []
    for _ in range(4000):  # a 4 x 4 grid: many ties and degenerate rings
        pts = rng.integers(0, 4, size=(rng.integers(3, 9), 2)).astype(float)
        rings.append(np.vstack([pts, pts[:1]]))
    for _ in range(500):  # a nearly flat cap at large coordinates
        base = rng.uniform(-1e7, 1e7, 2)
        d = rng.uniform(-1, 1, 2)
        cap = np.array([base, base + d, base + 2 * d + rng.uniform(-1, 1, 2) * 1e-9])
        low = base + np.array([0.5, -5.0])
        rings.append(np.vstack([cap, low, cap[:1]])[rng.permutation([0, 1, 2, 3])[[0, 1, 2, 3, 0]]])
    off = np.r_[0, np.cumsum([len(r) for r in rings])]
    xy = np.vstack(rings)
    geos = shapely.is_ccw(
        shapely.linearrings(xy, indices=np.repeat(np.arange(len(rings)), np.diff(off)))
    )
    assert 0.2 < geos.mean() < 0.8
    assert (ingest.rings_ccw(xy[:, 0].copy(), xy[:, 1].copy(), off) == geos).all()


def test_release_memory_trims_only_a_process_of_some_size(monkeypatch):
    from siting.sources import ingest

    rss = ingest._resident_bytes()
    status = Path("/proc/self/status")
    if status.exists():  # the same resident size the kernel reports, in kB
        kb = next(
            int(line.split()[1])
            for line in status.read_text().splitlines()
            if line.startswith("VmRSS")
        )
        assert abs(rss / 1024 - kb) < 0.2 * kb
    calls = []
    ingest._malloc_trim.cache_clear()
    monkeypatch.setattr(ingest, "_malloc_trim", lambda: calls.append(1) or (lambda pad: 1))
    monkeypatch.setattr(ingest, "RELEASE_MIN_RSS_BYTES", rss * 4)
    ingest.release_memory()
    assert calls == []  # small: nothing worth giving back
    monkeypatch.setattr(ingest, "RELEASE_MIN_RSS_BYTES", 0)
    ingest.release_memory()
    assert calls == [1]
