"""The one-pass reader gives pyrosm's layers: same rows, columns, dtypes, values, geometries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import shared_file

from siting.sources import ingest
from siting.sources.osm import _pyrosm_layers

pytestmark = pytest.mark.skipif(not ingest.available(), reason="pyrosm's C decoder is missing")


def _same(name: str, mine, theirs) -> None:
    if theirs is None:
        assert mine is None, name
        return
    assert mine is not None, name
    assert list(mine.columns) == list(theirs.columns), name
    assert len(mine) == len(theirs), name
    for col in theirs.columns:
        if col == "geometry":
            a, b = mine.geometry.values, theirs.geometry.values
            assert (shapely.get_type_id(a) == shapely.get_type_id(b)).all(), name
            assert shapely.equals_exact(a, b, 0).all(), name
            continue
        assert str(mine[col].dtype) == str(theirs[col].dtype), (name, col)
        x, y = mine[col].astype(object).to_numpy(), theirs[col].astype(object).to_numpy()
        nx, ny = pd.isna(x), pd.isna(y)
        assert (nx == ny).all(), (name, col)
        assert (x[~nx] == y[~ny]).all(), (name, col)


def _check(path) -> dict:
    mine = ingest.read_layers(path)
    theirs = _pyrosm_layers(path, str(path), streets=True)
    # every layer the one-pass reader makes (power and exclusions are pyrosm's own reads
    # still: siting.sources.power)
    assert set(mine) == set(theirs) - {"power", "exclusions"}
    for name in mine:
        _same(name, mine[name], theirs[name])
    return mine


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
