"""siting.homes: homes served at a named Danish standard (MODEL.md §6, [V S30])."""

from __future__ import annotations

import numpy as np
import pytest

from siting import homes
from siting.errors import ConfigError


def test_standards_are_the_model_values():
    s = homes.HOME_STANDARDS
    assert (s["dk_house_2025"].mwh_per_yr, s["dk_house_2025"].floor_area_m2) == (14.0, 125.0)
    assert (s["dk_house_legacy"].mwh_per_yr, s["dk_house_legacy"].floor_area_m2) == (18.1, 130.0)
    assert s["dk_flat"].mwh_per_yr == 7.8
    assert homes.DEFAULT_STANDARD == "dk_house_2025"
    for standard in s.values():
        assert str(standard.mwh_per_yr) in standard.label and standard.source == "[V S30]"


def test_homes_at_standard_names_the_standard():
    # MODEL.md §7 golden case 3: 93,049 MWh delivered = 6,646 homes at 14 MWh
    homes_2025, label = homes.homes_at_standard(93_049.0)
    assert homes_2025 == 6_646
    assert "2025" in label and "14.0" in label
    # golden case 1 (Odense): ~126 GWh/yr delivered, 6,960 homes at 18.1 MWh; published 6,900
    legacy, label = homes.homes_at_standard(126_000.0, "dk_house_legacy")
    assert legacy == pytest.approx(6_960, abs=5) and "18.1" in label
    assert legacy == pytest.approx(6_900, rel=0.10)
    flats, label = homes.homes_at_standard(93_049.0, "DK_FLAT")
    assert flats == np.floor(93_049 / 7.8) and "flat" in label
    custom, label = homes.homes_at_standard(100.0, 12.5)
    assert custom == 8.0 and "custom" in label and "12.5" in label
    assert homes.flats_served(93_049.0) == flats


def test_arrays_and_whole_homes():
    out, _ = homes.homes_at_standard(np.array([0.0, 13.9, 14.0, 28.1]))
    assert out.tolist() == [0.0, 0.0, 1.0, 2.0]
    assert homes.flats_served([7.7, 7.8, 15.6]).tolist() == [0.0, 1.0, 2.0]
    assert isinstance(homes.flats_served(10.0), float)


@pytest.mark.parametrize("standard", ["dk_house_1990", 0.0, -3.0, float("nan"), "14", None])
def test_bad_standard_is_a_config_error(standard):
    with pytest.raises(ConfigError, match="standard"):
        homes.homes_at_standard(100.0, standard)


@pytest.mark.parametrize("delivered", [-1.0, float("inf"), [1.0, float("nan")]])
def test_bad_delivered_heat_is_a_config_error(delivered):
    with pytest.raises(ConfigError, match="delivered heat"):
        homes.homes_at_standard(delivered)
    with pytest.raises(ConfigError, match="delivered heat"):
        homes.flats_served(delivered)
