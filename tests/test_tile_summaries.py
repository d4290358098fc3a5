"""What a tiled study computes once from per-core summaries equals the whole-area answer.

Runs anywhere: the embedded Helsinki extract (the demo study), no ../shared data.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import siting
from siting.heat_density import street_linear_heat_density
from siting.networks.areas import dh_areas_from_buildings, dh_areas_from_cell_sums
from siting.raster import cell_sums, grid_from_cell_sums


@pytest.fixture(scope="module")
def demo():
    study = siting.demo_study()
    return siting.run(study.replace(use_cache=False))


def _halves(buildings: gpd.GeoDataFrame) -> list[gpd.GeoDataFrame]:
    """Two 'cores': west and east of the median x, in shuffled order."""
    x = buildings.geometry.centroid.x.to_numpy()
    west = x < np.median(x)
    rng = np.random.default_rng(7)
    return [part.iloc[rng.permutation(len(part))] for part in (buildings[west], buildings[~west])]


def test_cell_sums_of_parts_add_up_to_the_whole(demo):
    b = demo.buildings
    whole = cell_sums(b)
    parts = pd.concat([cell_sums(part) for part in _halves(b)], ignore_index=True)
    merged = parts.groupby(["ix", "iy"], as_index=False)[["total", "n"]].sum()
    assert len(merged) == len(whole)
    assert merged["n"].sum() == int((b["heat_demand_mwh_per_yr"] > 0).sum())
    np.testing.assert_allclose(merged["total"], whole["total"], rtol=1e-12)
    assert merged["total"].sum() == pytest.approx(b["heat_demand_mwh_per_yr"].sum(), rel=1e-9)
    grid, transform = grid_from_cell_sums(parts)
    assert grid.dtype == np.float32 and transform.a == 100.0
    assert float(grid.sum(dtype=float)) == pytest.approx(whole["total"].sum(), rel=1e-6)


@pytest.mark.parametrize("min_gwh", [0.0, 30.0])
def test_dh_areas_from_summed_cells_equal_the_areas_of_all_buildings(demo, min_gwh):
    b = demo.buildings
    direct = dh_areas_from_buildings(b, min_area_gwh_per_yr=min_gwh)
    cells = pd.concat([cell_sums(part) for part in _halves(b)], ignore_index=True)
    summed = dh_areas_from_cell_sums(cells, b.crs, min_area_gwh_per_yr=min_gwh)
    assert len(direct) >= 1 and len(summed) == len(direct)
    cols = ["area_id", "cells", "area_ha", "n_buildings"]
    pd.testing.assert_frame_equal(
        summed[cols].reset_index(drop=True), direct[cols].reset_index(drop=True)
    )
    np.testing.assert_allclose(
        summed["heat_demand_mwh_per_yr"], direct["heat_demand_mwh_per_yr"], rtol=1e-9
    )
    sym = shapely.symmetric_difference(summed.geometry.values, direct.geometry.values)
    assert float(shapely.area(sym).sum()) < 1e-3  # m²


def test_street_heat_density_does_not_depend_on_the_order_of_the_edges(demo):
    """A tile holds the same edges as the whole study in another order; a building nearest
    to a node two edges share must go to the same edge either way."""
    streets = demo.street_density[["u", "v", "highway", "geometry"]]
    b = demo.buildings
    first = street_linear_heat_density(streets, b)
    rng = np.random.default_rng(3)
    shuffled = street_linear_heat_density(streets.iloc[rng.permutation(len(streets))], b)
    key = ["u", "v"]
    a = first.set_index(key)["heat_demand_mwh_per_yr"]
    z = shuffled.set_index(key)["heat_demand_mwh_per_yr"].reindex(a.index)
    assert a.sum() > 0
    np.testing.assert_allclose(z.to_numpy(), a.to_numpy(), rtol=1e-12, atol=1e-9)
    # ties exist in this extract (else the test proves nothing): a building at equal
    # distance from two edges
    tree = shapely.STRtree(np.asarray(streets.geometry.values))
    heated = b[b["heat_demand_mwh_per_yr"] > 0].geometry.values
    (pos, _), _ = tree.query_nearest(
        heated,
        max_distance=first.attrs.get("max_service_m", 100.0),
        return_distance=True,
        all_matches=True,
    )
    assert (np.bincount(pos) > 1).any()


def test_needed_overlap_follows_what_each_site_reaches():
    """The overlap a site needs: its route's reach, its cable, or the full overlap when it
    found nothing; less its depth inside its core; capped at the full overlap."""
    from siting import pipes
    from siting.routing import ACCESS_MULTIPLIER
    from siting.tiles import SNAP_TOLERANCE_M, _needed_overlap_m, default_overlap_m

    p = siting.Params()
    core = shapely.box(0, 0, 10_000, 10_000)
    tiles = gpd.GeoDataFrame({"tile_id": ["a"]}, geometry=[core], crs="EPSG:25832")
    pts = [shapely.Point(5_000, 5_000), shapely.Point(9_900, 5_000), shapely.Point(5_000, 100)]
    sites = gpd.GeoDataFrame(
        {"site_id": ["deep", "edge", "none"], "_tile": "a"}, geometry=pts, crs=tiles.crs
    )
    table = gpd.GeoDataFrame(
        {
            "site_id": ["deep", "edge", "none"],
            "feasible": [True, True, False],
            "mode": "existing_network",
            "route_cost_eq_m": [300.0, 300.0, np.nan],
            "grid_distance_m": [200.0, 4_000.0, 100.0],
        },
        geometry=pts,
        crs=tiles.crs,
    )
    need = _needed_overlap_m(table, sites, tiles, p)
    mults = {**pipes.STREET_CLASS_MULTIPLIER, **p.street_class_multiplier}
    m_min = min(min(mults.values()), pipes.STREET_DEFAULT_MULTIPLIER, ACCESS_MULTIPLIER)
    route = 300.0 / m_min + p.max_snap_distance_m + SNAP_TOLERANCE_M
    # deep inside its core: the core itself covers the route, no overlap needed
    assert route < 5_000 and need.loc["deep", "overlap_m"] == 0.0
    # 100 m from the core's edge: the cable (4 km) decides, less the 100 m depth
    assert need.loc["edge", "overlap_m"] == pytest.approx(
        np.ceil((4_000 + SNAP_TOLERANCE_M - 100) / 100) * 100
    )
    assert need.loc["edge", "overlap_m"] > route - 100
    # no route found: the full overlap (a route may exist farther away)
    assert need.loc["none", "overlap_m"] == default_overlap_m(p)
    assert (need["tile"] == 0).all()
