"""A tiled run's result files are written tile by tile and equal the whole frame's.

One small tiled run (north Copenhagen/Lyngby, 4 grid tiles); its buildings stay in the
tiles' files. Its GeoPackage layer, GeoParquet file, GeoTIFF, map heat layer and demand
summary are compared with what the single-frame writers make of every building gathered
(`BuildingParts.read`, the frame `run_tiled` used to build), and none of the outputs may
gather them.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pyogrio
import pytest
import rasterio
from conftest import shared_file

from siting import Study, demand
from siting.building_parts import BuildingParts
from siting.locator import locator_map_figure
from siting.maps import heat_density_grid
from siting.maps.view import _sites_in_study_area
from siting.raster import CellSums, heat_density, heat_density_cells
from siting.results import _plain_columns, write_gpkg_layers
from siting.tiles import make_tiles, run_tiled


@pytest.fixture(scope="module")
def tiled(tmp_path_factory):
    """The tiled run and its files, written while gathering the buildings is forbidden."""
    path = shared_file("osm", "copenhagen_north_lyngby_2022.osm.pbf")
    tmp = tmp_path_factory.mktemp("tiled-outputs")
    study = Study(osm_path=path, use_cache=False, out_dir=tmp / "out")
    patch = pytest.MonkeyPatch()

    def forbidden(self):
        raise AssertionError("a whole-study output gathered every building")

    patch.setattr(BuildingParts, "read", forbidden)
    try:
        res = run_tiled(study, make_tiles(path, n=4), workdir=tmp / "work", processes=False)
        files = res.to_files(tmp / "out", geoparquet=True)
        summary = res.demand_summary()
        locator_map_figure(res, res.sites.head(3))  # the report's map
    finally:
        patch.undo()
    return res, files, summary


def test_outputs_never_gather_the_buildings(tiled):
    res, files, _ = tiled
    assert res._buildings is None  # the lazy frame was never built
    assert len(res.building_parts.paths) >= 2  # more than one tile holds buildings
    n_rows = sum(pq.read_metadata(p).num_rows for p in res.building_parts.paths)
    assert res.n_buildings == n_rows > 10_000
    assert {"gpkg", "heat_density", "map", "parquet_buildings"} <= set(files)


def test_gpkg_buildings_layer_is_the_concatenation_of_the_tiles(tiled, tmp_path):
    res, files, _ = tiled
    tiles = [gpd.read_parquet(p) for p in res.building_parts.paths]
    whole = gpd.GeoDataFrame(pd.concat(tiles, ignore_index=True), crs=res.sites.crs)
    # the layer the single-frame writer makes of the concatenation
    ref = tmp_path / "whole.gpkg"
    write_gpkg_layers(ref, {"buildings": _plain_columns(whole)})
    got_info = pyogrio.read_info(files["gpkg"], layer="buildings")
    ref_info = pyogrio.read_info(ref, layer="buildings")
    for key in ("fields", "dtypes"):
        assert list(got_info[key]) == list(ref_info[key])
    for key in ("geometry_type", "crs", "features"):
        assert got_info[key] == ref_info[key]
    assert got_info["features"] == len(whole)
    got = pyogrio.read_dataframe(files["gpkg"], layer="buildings", fid_as_index=True)
    want = pyogrio.read_dataframe(ref, layer="buildings", fid_as_index=True)
    # rows in tile order, each tile's in its own order; every column and geometry
    assert got["osm_id"].tolist() == whole["osm_id"].tolist()
    pd.testing.assert_frame_equal(got.drop(columns="geometry"), want.drop(columns="geometry"))
    assert (got.geometry.to_wkb() == want.geometry.to_wkb()).all()
    # the layers around it keep their order
    names = [n for n, _ in pyogrio.list_layers(files["gpkg"])]
    assert names[:3] == ["sites", "routes", "buildings"]


def test_geoparquet_buildings_is_the_concatenations(tiled, tmp_path):
    res, files, _ = tiled
    whole = res.building_parts.read()
    ref = tmp_path / "buildings.parquet"
    _plain_columns(whole).to_parquet(ref, index=False)
    got, want = gpd.read_parquet(files["parquet_buildings"]), gpd.read_parquet(ref)
    pd.testing.assert_frame_equal(got, want)
    assert pq.read_schema(files["parquet_buildings"]).equals(
        pq.read_schema(ref), check_metadata=True
    )


def test_heat_density_tif_is_the_whole_frames(tiled, tmp_path):
    res, files, _ = tiled
    whole = res.building_parts.read()
    ref = heat_density(whole, tmp_path / "whole.tif", source=res.study.name)
    with rasterio.open(files["heat_density"]) as got, rasterio.open(ref) as want:
        assert got.transform == want.transform and got.crs == want.crs
        assert got.shape == want.shape
        np.testing.assert_array_equal(got.read(1), want.read(1))
        assert got.tags() == want.tags()
    # the per-cell sums keep each building's order: the same bytes, not just close values
    assert files["heat_density"].read_bytes() == ref.read_bytes()


def test_map_heat_layer_and_view_come_from_the_summed_cells(tiled):
    res, _, _ = tiled
    whole = res.building_parts.read()
    pd.testing.assert_frame_equal(res.heat_density_grid(), heat_density_grid(whole, 100.0))
    coarse = res.heat_density_grid(250.0, None)  # another grid, in the study's CRS
    pd.testing.assert_frame_equal(coarse, heat_density_grid(whole, 250.0, None))
    extent = res.building_parts.extent()
    np.testing.assert_array_equal(extent.total_bounds, whole.total_bounds)
    assert _sites_in_study_area(res.sites, extent).equals(_sites_in_study_area(res.sites, whole))


def test_demand_summary_and_lazy_buildings(tiled):
    res, _, summary = tiled
    whole = res.building_parts.read()
    assert summary == demand.summary(whole, res.study.params)
    assert res._buildings is None
    loaded = res.buildings  # for analysts: read on first use, then kept
    assert res.buildings is loaded and res._building_parts() is None
    pd.testing.assert_frame_equal(loaded, whole)
    assert res.n_buildings == len(loaded)


def test_cell_sums_of_ordered_parts_are_the_whole_frames_bit_for_bit(tiled):
    res, _, _ = tiled
    whole = res.building_parts.read()
    cells = CellSums()
    for part in np.array_split(np.arange(len(whole)), 7):  # cells cut between parts
        cells.add(whole.iloc[part])
    pd.testing.assert_frame_equal(cells.frame(), heat_density_cells(whole), check_exact=True)
    assert cells.n.sum() == (whole["heat_demand_mwh_per_yr"] > 0).sum()


def _square(x: float, multi: bool = False):
    import shapely

    box = shapely.box(x, 6_180_000.0, x + 10.0, 6_180_010.0)
    return shapely.MultiPolygon([box]) if multi else box


@pytest.fixture
def mixed_parts(tmp_path):
    """Parts whose dtypes differ as tiles' can: other categories, a text column with no
    value in one part, ints in one and floats in another, single and multi polygons, an
    empty part; and attrs the parts share."""
    crs = "EPSG:25832"
    a = gpd.GeoDataFrame(
        {
            "osm_id": pd.array([1, 2, 3], dtype="Int64"),
            "building": pd.Categorical(["house", "shed", "house"]),
            "name": [None, None, None],
            "levels": np.array([1, 2, 3], dtype=np.int64),
            "residential": [True, False, True],
            "heat_demand_mwh_per_yr": [10.0, 0.0, 12.5],
        },
        geometry=[_square(720_000.0), _square(720_050.0), _square(720_150.0)],
        crs=crs,
    )
    b = gpd.GeoDataFrame(
        {
            "osm_id": pd.array([4, 5], dtype="Int64"),
            "building": pd.Categorical(["apartments", "house"]),
            "name": ["Ørestad 1", None],
            "levels": [4.0, np.nan],
            "residential": [True, True],
            "heat_demand_mwh_per_yr": [80.0, 7.25],
        },
        geometry=[_square(720_055.0, multi=True), _square(720_900.0)],
        crs=crs,
    )
    c = a.iloc[:0]
    paths = []
    for k, part in enumerate((a, c, b)):
        part = part.copy()
        part.attrs = {"demand_given": {}}
        paths.append(tmp_path / f"part{k}.parquet")
        part.to_parquet(paths[-1])
    return BuildingParts(paths, crs)


@pytest.mark.parametrize("arrow", [True, False])
def test_parts_with_other_dtypes_write_the_concatenations_files(
    mixed_parts, tmp_path, monkeypatch, arrow
):
    import siting.results

    monkeypatch.setattr(siting.results, "_ARROW", [arrow])  # False: GDAL without Arrow
    parts = mixed_parts
    whole = pd.concat([gpd.read_parquet(p) for p in parts.paths], ignore_index=True)
    whole = gpd.GeoDataFrame(whole, crs=parts.crs)
    # the cases at hand: a category whose categories differ becomes text, ints with floats
    # floats, text with a part of none text (and its NaN the text "nan", as before)
    assert not isinstance(whole["building"].dtype, pd.CategoricalDtype)
    assert whole["levels"].dtype == float and whole["name"].dtype == object
    assert len(parts) == len(whole) == 5
    got = pd.concat(list(parts.frames()))
    pd.testing.assert_frame_equal(got, whole, check_index_type=True)
    assert got.attrs == whole.attrs == {"demand_given": {}}
    assert parts.geometry_type() == ("MultiPolygon", True)

    write_gpkg_layers(tmp_path / "parts.gpkg", {"buildings": parts})
    write_gpkg_layers(tmp_path / "whole.gpkg", {"buildings": _plain_columns(whole)})
    a = pyogrio.read_info(tmp_path / "parts.gpkg", layer="buildings")
    b = pyogrio.read_info(tmp_path / "whole.gpkg", layer="buildings")
    assert list(a["fields"]) == list(b["fields"]) and list(a["dtypes"]) == list(b["dtypes"])
    assert a["geometry_type"] == b["geometry_type"] == "MultiPolygon"
    pd.testing.assert_frame_equal(
        pyogrio.read_dataframe(tmp_path / "parts.gpkg", layer="buildings"),
        pyogrio.read_dataframe(tmp_path / "whole.gpkg", layer="buildings"),
    )

    from siting.results import write_parquet_parts

    write_parquet_parts(parts, tmp_path / "parts.parquet")
    _plain_columns(whole).to_parquet(tmp_path / "whole.parquet", index=False)
    pd.testing.assert_frame_equal(
        gpd.read_parquet(tmp_path / "parts.parquet"), gpd.read_parquet(tmp_path / "whole.parquet")
    )
    assert pq.read_schema(tmp_path / "parts.parquet").equals(
        pq.read_schema(tmp_path / "whole.parquet"), check_metadata=True
    )
    # cells summed part by part; the view's extent from the files' metadata
    pd.testing.assert_frame_equal(parts.cell_sums().frame(), heat_density_cells(whole))
    np.testing.assert_array_equal(parts.extent().total_bounds, whole.total_bounds)


def test_missing_part_files_name_the_fix(mixed_parts):
    mixed_parts.paths[0].unlink()
    with pytest.raises(Exception, match="run the study again"):
        len(mixed_parts)
