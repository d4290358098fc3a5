"""Tiled studies on Dask: same ranking as the single run, failures kept per tile, re-runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import shared_file

import siting
from siting import Study
from siting.errors import SitingError
from siting.tiles import assign_tiles, default_overlap_m, make_tiles, run_tiled

# tests use an in-process LocalCluster (processes=False, 2 single-threaded workers): it starts
# in ~1 s instead of ~5 s and lets monkeypatch reach the tile tasks; the process cluster is
# the default and is exercised by benchmarks/regional.py


def _assert_same_ranking(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert a.columns.tolist() == b.columns.tolist()
    assert a["site_id"].tolist() == b["site_id"].tolist()
    for col in a.columns:
        x, y = a[col], b[col]
        if x.dtype.kind == "f":
            np.testing.assert_allclose(y, x, rtol=1e-6, equal_nan=True, err_msg=col)
        else:
            assert (x.astype(str) == y.astype(str)).all(), col


def test_make_tiles_grid_and_assignment():
    tiles = make_tiles((12.48, 55.74, 12.61, 55.81), n=4, overlap_m=1000)
    assert len(tiles) == 4 and tiles["tile_id"].is_unique
    assert (tiles["overlap_m"] == 1000).all() and tiles.crs.is_projected
    # cores tile the area without gaps or overlaps
    union = shapely.union_all(tiles.geometry.values)
    assert union.area == pytest.approx(tiles.geometry.area.sum())
    pts = tiles.geometry.representative_point()
    far = shapely.Point(pts.iloc[0].x - 50_000, pts.iloc[0].y)  # outside all: nearest core
    ids = assign_tiles(
        pd.concat([pts, pd.Series([far])])
        .set_axis(range(5))
        .pipe(lambda s: __import__("geopandas").GeoSeries(s.values, crs=tiles.crs)),
        tiles,
    )
    assert list(ids[:4]) == list(tiles["tile_id"]) and ids[4] == tiles["tile_id"].iloc[0]
    assert default_overlap_m() == 20_500.0
    cells = make_tiles((12.48, 55.74, 12.61, 55.81), grid_m=2000, overlap_m=0)
    assert len(cells) >= 16


def test_tiled_lyngby_equals_single_run_with_failure_and_rerun(tmp_path, monkeypatch):
    path = shared_file("osm", "copenhagen_north_lyngby_2022.osm.pbf")
    study = Study(osm_path=path, use_cache=False)
    single = siting.run(study)
    tiles = make_tiles(path, n=4)  # 2 km overlap; sites needing more run again with more
    best = single.sites["site_id"].iloc[0]

    import siting.tiles as tl

    real = tl._tile_study_run

    def poisoned(study, osm, network, sites, area=None):
        if best in set(sites["site_id"]):
            raise RuntimeError("poisoned tile")
        return real(study, osm, network, sites, area)

    monkeypatch.setattr(tl, "_tile_study_run", poisoned)
    first = run_tiled(study, tiles, workdir=tmp_path, processes=False)
    assert len(first.failed_tiles) == 1
    bad = first.failed_tiles[0]
    assert "poisoned tile" in bad["error"] and best in bad["site_ids"]
    assert bad["tile_id"] in set(tiles["tile_id"])
    assert any(bad["tile_id"] in n for n in first.notes)
    # the other tiles' sites are ranked, the failed tile's are not
    assert best not in set(first.sites["site_id"])
    assert len(first.sites) == len(single.sites) - len(bad["site_ids"])
    with pytest.raises(SitingError, match=bad["tile_id"]):
        run_tiled(study, tiles, workdir=tmp_path, processes=False, strict=True)

    monkeypatch.setattr(tl, "_tile_study_run", real)
    again = run_tiled(study, tiles, workdir=tmp_path, processes=False)
    status = again.tiles.set_index("tile_id")["status"]
    assert status[bad["tile_id"]] == "done"  # only the failed tile ran again
    # (and its sites that need a wider overlap: the re-run row "<tile>+")
    rest = status.drop([bad["tile_id"], bad["tile_id"] + "+"], errors="ignore")
    assert rest.isin(["cached", "empty"]).all()
    assert not again.failed_tiles and not again.unverified_sites
    assert again.network_demand_mwh_per_yr == pytest.approx(single.network_demand_mwh_per_yr)
    # the registry-mains note counts the streets of the tiles that hold sites (tiles
    # without sites do not run); every other note is the single run's
    from siting.stages import VIABLE_NOTE_START

    def other(notes):
        return [n for n in notes if not n.startswith(VIABLE_NOTE_START)]

    assert other(again.notes) == other(single.notes)
    assert sum(n.startswith(VIABLE_NOTE_START) for n in again.notes) == 1
    _assert_same_ranking(single.ranking, again.ranking)
    # every core's buildings, also of tiles without a site: the single run's buildings
    assert len(again.buildings) == len(single.buildings)
    key = ["osm_type", "osm_id"]
    assert set(map(tuple, again.buildings[key].astype(str).values)) == set(
        map(tuple, single.buildings[key].astype(str).values)
    )
    assert set(again.routes["site_id"]) == set(single.routes["site_id"])


def test_short_overlap_runs_far_reaching_sites_again(tmp_path):
    """With 3 km of overlap the tiles really are cut; the sites whose route could leave
    their tile run again with the overlap they need, and the ranking is the single run's.

    Only the extract's one mapped plant as the network (no registry, no DH areas), so most
    routes are long: the setting where a short overlap cannot prove them.
    """
    path = shared_file("osm", "copenhagen_north_lyngby_2022.osm.pbf")
    study = Study(
        osm_path=path,
        use_cache=False,
        use_builtin_registry=False,
        params=siting.Params(dh_areas=False),
    )
    single = siting.run(study)
    tiled = run_tiled(
        study, make_tiles(path, n=4, overlap_m=3000), workdir=tmp_path, processes=False
    )
    report = tiled.tiles.set_index("tile_id")
    again = report[report.index.str.endswith("+")]
    assert len(again) >= 1 and (again["overlap_m"] > 3000).all()  # the plant is far
    assert (again["status"] == "done").all()
    assert not tiled.unverified_sites
    _assert_same_ranking(single.ranking, tiled.ranking)


def test_default_tile_count_grows_with_the_extract(monkeypatch, tmp_path):
    import siting.tiles as tl

    path = shared_file("osm", "copenhagen_north_lyngby_2022.osm.pbf")
    study = Study(osm_path=path, out_dir=tmp_path)
    area = tl.area_geometry(study)
    limit = tl.max_grid_tiles(area.to_crs(tl.metric_crs(area)).iloc[0], study)[0]
    assert limit > 16
    mb = path.stat().st_size / 1e6
    assert tl.default_tile_count(study) == 4  # a small extract: 4
    # an extract 10 tiles' worth: the next square number, 16
    monkeypatch.setattr(tl, "TILE_INPUT_MB", mb / 10)
    assert tl.default_tile_count(study) == 16
    # never more than the area and its sites can use
    monkeypatch.setattr(tl, "TILE_INPUT_MB", mb / 10_000)
    assert tl.default_tile_count(study) == limit
