"""Study configuration: YAML loading, unknown keys with suggestions, types, paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from siting import Study
from siting.config import Params
from siting.errors import ConfigError


def _yaml(tmp_path: Path, text: str, name: str = "study.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_yaml_overrides_params(tmp_path):
    path = _yaml(
        tmp_path, "name: t\nparams:\n  discount_rate: 0.05\n  capture_fraction:\n    liquid: 0.7\n"
    )
    study = Study.from_yaml(path)
    assert study.name == "t" and study.params.discount_rate == 0.05
    # a partial cooling mapping overrides only the type it names
    assert study.params.capture_fraction == {"air_coil": 0.95, "liquid": 0.7, "immersion": 0.95}


@pytest.mark.parametrize(
    ("text", "key", "suggestion"),
    [
        ("osm_pth: city.osm.pbf\n", "'osm_pth'", "'osm_path'"),
        ("params:\n  discount_rat: 0.05\n", "'discount_rat'", "'discount_rate'"),
        ("params:\n  source_in_c: {immersoin: 45}\n", "'immersoin'", "'immersion'"),
        ("params:\n  street_class_multiplier: {primari: 3}\n", "'primari'", "'primary'"),
    ],
)
def test_unknown_key_is_named_with_the_closest(tmp_path, text, key, suggestion):
    path = _yaml(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        Study.from_yaml(path)
    msg = str(err.value)
    assert str(path) in msg and "unknown" in msg and key in msg
    assert f"Did you mean {suggestion}?" in msg


def test_unknown_key_without_a_close_match_lists_the_valid_ones():
    with pytest.raises(ConfigError) as err:
        Study.from_dict({"zzz": 1})
    assert "'zzz'" in str(err.value) and "Did you mean" not in str(err.value)
    assert "osm_path" in str(err.value)
    with pytest.raises(ConfigError, match="'pu'.*Did you mean 'pue'"):
        Study().params.replace(pu=1.3)


def test_invalid_yaml_is_one_line_with_the_position(tmp_path):
    path = _yaml(tmp_path, "name: ok\nosm_path: [unclosed\n")
    with pytest.raises(ConfigError) as err:
        Study.from_yaml(path)
    msg = str(err.value)
    assert "\n" not in msg
    assert str(path) in msg and "not valid YAML" in msg and "line 3" in msg


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- a\n- b\n", "must be a mapping of keys"),
        ("params: [1, 2]\n", "params must be a mapping"),
        ("params:\n  capture_fraction: 0.9\n", "params.capture_fraction must be a mapping"),
        ("params:\n  discount_rate: high\n", "params.discount_rate must be a number, got 'high'"),
        ("params:\n  pue: '1.3'\n", "params.pue must be a number"),
        ("params:\n  max_snap_distance_m:\n", "params.max_snap_distance_m must be a number"),
        ("default_it_load_mw: five\n", "default_it_load_mw must be a number"),
        ("default_it_load_mw: 0\n", "default_it_load_mw must be a positive number"),
        ("default_it_load_mw: -5\n", "default_it_load_mw must be a positive number"),
        ("use_osm_network: maybe\n", "use_osm_network must be true or false"),
        ("osm_path: [a, b]\n", "osm_path must be a file path"),
        ("crs: EPSG:99999\n", "crs 'EPSG:99999' is not a CRS"),
        ("default_cooling: water\n", "default_cooling 'water' is not known"),
        ("top_n_routes: 2.5\n", "top_n_routes must be a whole number"),
    ],
)
def test_bad_values_name_the_key(tmp_path, text, expected):
    path = _yaml(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        Study.from_yaml(path)
    assert expected in str(err.value)
    assert str(path) in str(err.value)


def test_not_utf8_and_missing_config(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="not a UTF-8 text file"):
        Study.from_yaml(path)
    with pytest.raises(ConfigError, match="does not exist"):
        Study.from_yaml(tmp_path / "nope.yaml")


def test_relative_paths_resolve_against_the_yaml_folder(tmp_path, monkeypatch):
    folder = tmp_path / "project"
    folder.mkdir()
    _yaml(
        folder,
        "osm_path: data/city.osm.pbf\nnetwork_path: ../dh.gpkg\n"
        "sites_path: /abs/sites.geojson\nout_dir: results\n",
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    study = Study.from_yaml(Path("../project/study.yaml"))
    assert study.osm_path.resolve() == (folder / "data" / "city.osm.pbf").resolve()
    assert study.network_path.resolve() == (tmp_path / "dh.gpkg").resolve()
    assert study.sites_path == Path("/abs/sites.geojson")
    assert study.out_dir.resolve() == (folder / "results").resolve()


def test_python_api_validates_too():
    with pytest.raises(ConfigError, match="'osm_pth'.*Did you mean 'osm_path'"):
        Study().replace(osm_pth="x.osm.pbf")
    with pytest.raises(ConfigError, match="params.pue must be >= 1"):
        Params(pue=0.9)
    with pytest.raises(ConfigError, match="params.discount_rate must be a number"):
        Params(discount_rate=True)
    assert Params(pue=1).pue == 1  # ints are numbers


def test_numpy_numbers_are_accepted():
    import numpy as np

    study = Study(max_generated_sites=np.int64(5), default_it_load_mw=np.float32(2.0))
    assert study.max_generated_sites == 5 and study.default_it_load_mw == 2.0
    with pytest.raises(ConfigError, match="params.pue must be a number"):
        Params(pue=np.bool_(True))
