"""`siting.area.convex_hull` (Qhull on the array) equals GEOS's MultiPoint hull exactly."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from siting.area import convex_hull


@pytest.mark.parametrize("n", [3, 10, 1000, 50_000])
def test_random_points(n):
    coords = np.random.default_rng(n).normal(size=(n, 2)) * 1000 + 500_000
    assert shapely.equals_exact(convex_hull(coords), shapely.MultiPoint(coords).convex_hull, 0)


def test_grid_with_collinear_points_and_degenerate_inputs():
    grid = np.stack(np.meshgrid(np.arange(50.0), np.arange(30.0)), -1).reshape(-1, 2)
    assert shapely.equals_exact(convex_hull(grid), shapely.MultiPoint(grid).convex_hull, 0)
    line = np.column_stack([np.arange(5.0), np.arange(5.0)])
    assert convex_hull(line).equals(shapely.LineString([(0, 0), (4, 4)]))
    assert convex_hull(np.array([[1.0, 2.0]])).equals(shapely.Point(1, 2))
