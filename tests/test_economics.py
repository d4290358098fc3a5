"""Tests for siting.economics (MODEL.md s5)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from siting.economics import (
    DKK_PER_EUR,
    DSO_TARIFF_DK_EUR_PER_MWH,
    ELECTRICITY_TAX_HEAT_PUMP_DK_EUR_PER_MWH,
    TSO_TARIFF_DK_2024_EUR_PER_MWH,
    annuity_factor,
    co2_avoided_t_per_yr,
    consumption_weighted_price_eur_per_mwh,
    crf,
    heat_pump_capex_eur_per_mw,
    heat_pump_electricity_price_eur_per_mwh,
    lcoh_eur_per_mwh,
    npv_eur,
)
from siting.errors import ConfigError

# --- CRF ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "years", "expected"),
    [
        (0.05, 20, 0.080243),  # textbook annuity tables
        (0.08, 10, 0.149029),
        (0.04, 25, 0.064012),
        (0.10, 1, 1.10),
        (0.0, 10, 0.1),
        (0.0, 40, 0.025),
    ],
)
def test_crf_textbook_values(rate, years, expected):
    assert crf(rate, years) == pytest.approx(expected, abs=1e-6)


def test_crf_continuous_at_zero_rate_and_vectorised():
    assert crf(1e-9, 20) == pytest.approx(1 / 20, rel=1e-7)
    out = crf(np.array([0.0, 0.05]), np.array([10.0, 20.0]))
    np.testing.assert_allclose(out, [0.1, 0.080243], atol=1e-6)
    assert annuity_factor(0.05, 20) == pytest.approx(1 / 0.0802426, rel=1e-5)


@given(
    r=st.floats(min_value=1e-4, max_value=0.2),
    n=st.floats(min_value=1.0, max_value=60.0),
)
def test_crf_between_simple_and_interest_bounds(r, n):
    # CRF lies between straight-line repayment 1/n (+ interest) bounds: r < CRF <= r + 1/n.
    value = crf(r, n)
    assert r < value <= r + 1 / n + 1e-12


def test_crf_rejects_bad_input():
    with pytest.raises(ConfigError, match="years"):
        crf(0.05, 0)
    with pytest.raises(ConfigError, match="discount rate"):
        crf(4.0, 20)  # percent given instead of fraction


# --- LCOH -----------------------------------------------------------------------------------


def test_lcoh_hand_computed_example():
    # 1 M EUR, 20 yr, 1 %/yr O&M; FOM 5,000; VOM 2; p_el 80; COP 4; 10,000 MWh; r 5 %.
    # Annualised CAPEX 1e6 * 0.0802425872 = 80,242.59; O&M 10,000; FOM 5,000;
    # energy 10,000 * (2 + 80/4) = 220,000. Total 315,242.59 / 10,000 MWh.
    value = lcoh_eur_per_mwh([(1_000_000.0, 20, 0.01)], 5_000.0, 2.0, 80.0, 4.0, 10_000.0, 0.05)
    assert value == pytest.approx(31.524259, abs=1e-5)


def test_lcoh_two_items_zero_rate():
    # r = 0: CRF = 1/n. (600k/25 + 400k/40 + 0 + 400k*0.01) / 1000 + 2 + 80/5
    items = [(600_000.0, 25, 0.0), (400_000.0, 40, 0.01)]
    value = lcoh_eur_per_mwh(items, 0.0, 2.0, 80.0, 5.0, 1_000.0, 0.0)
    assert value == pytest.approx((24_000 + 10_000 + 4_000) / 1_000 + 2 + 16, rel=1e-12)


def test_lcoh_direct_exchange_and_zero_delivery():
    items = [(1_000_000.0, 20, 0.0)]
    no_hp = lcoh_eur_per_mwh(items, 0.0, 0.0, 80.0, math.inf, 10_000.0, 0.05)
    assert no_hp == pytest.approx(1_000_000 * 0.0802425872 / 10_000, rel=1e-8)
    assert lcoh_eur_per_mwh(items, 0.0, 0.0, 80.0, 4.0, 0.0, 0.05) == math.inf


def test_lcoh_vectorised_over_sites():
    capex = np.array([1e6, 2e6, 3e6])
    delivered = np.array([10_000.0, 10_000.0, 0.0])
    out = lcoh_eur_per_mwh(
        [(capex, 25, 0.0)], 0.0, 2.0, 80.0, np.array([4.0, 5.0, 5.0]), delivered, 0.04
    )
    assert out.shape == (3,)
    expected0 = lcoh_eur_per_mwh([(1e6, 25, 0.0)], 0.0, 2.0, 80.0, 4.0, 10_000.0, 0.04)
    assert out[0] == pytest.approx(expected0, rel=1e-14)
    assert out[1] > out[0] - 4.0  # double capex outweighs the better COP's 4 EUR/MWh saving
    assert out[2] == math.inf


def test_lcoh_rejects_bad_input():
    with pytest.raises(ConfigError, match="delivered_mwh_per_yr"):
        lcoh_eur_per_mwh([], 0.0, 2.0, 80.0, 4.0, -1.0, 0.04)
    with pytest.raises(ConfigError, match="cop"):
        lcoh_eur_per_mwh([], 0.0, 2.0, 80.0, 0.0, 1.0, 0.04)
    with pytest.raises(ConfigError, match="capex_items"):
        lcoh_eur_per_mwh([(1e6, 20)], 0.0, 2.0, 80.0, 4.0, 1.0, 0.04)
    with pytest.raises(ConfigError, match="capex_eur"):
        lcoh_eur_per_mwh([(-1e6, 20, 0.0)], 0.0, 2.0, 80.0, 4.0, 1.0, 0.04)


# --- NPV ------------------------------------------------------------------------------------


def test_npv_matches_classic_discounting_when_life_equals_horizon():
    capex, life, r = 1_000_000.0, 10, 0.06
    e, price, vom, p_el, cop, fom = 5_000.0, 70.0, 2.0, 80.0, 4.0, 3_000.0
    net = e * (price - vom - p_el / cop) - fom
    classic = -capex + sum(net / (1 + r) ** t for t in range(1, life + 1))
    value = npv_eur(
        [(capex, life, 0.0)],
        fom,
        vom,
        p_el,
        cop,
        e,
        r,
        heat_price_eur_per_mwh=price,
        horizon_yr=life,
    )
    assert value == pytest.approx(classic, rel=1e-10)


def test_npv_zero_rate_is_undiscounted_sum():
    # r = 0, horizon 25 = life: 25 * (10,000 * (70 - 2 - 16) - 1,000) - 2 M
    value = npv_eur([(2e6, 25, 0.0)], 1_000.0, 2.0, 80.0, 5.0, 10_000.0, 0.0)
    assert value == pytest.approx(25 * (10_000 * 52 - 1_000) - 2e6, rel=1e-12)


def test_npv_zero_exactly_at_lcoh_price():
    args = ([(3e6, 25, 0.0), (1.5e6, 40, 0.01)], 20_000.0, 2.5, 80.0, 4.6, 40_000.0, 0.04)
    lcoh = lcoh_eur_per_mwh(*args)
    assert npv_eur(*args, heat_price_eur_per_mwh=lcoh) == pytest.approx(0.0, abs=1e-3)
    assert npv_eur(*args, heat_price_eur_per_mwh=lcoh + 10) > 0
    assert npv_eur(*args, heat_price_eur_per_mwh=lcoh - 10) < 0


# --- heat-pump CAPEX ------------------------------------------------------------------------


def test_heat_pump_capex_at_model_points_and_flat_ends():
    np.testing.assert_allclose(
        heat_pump_capex_eur_per_mw(np.array([1.0, 3.0, 10.0])), [1.28e6, 0.885e6, 0.70e6]
    )
    assert heat_pump_capex_eur_per_mw(0.3) == pytest.approx(1.28e6)
    assert heat_pump_capex_eur_per_mw(40.0) == pytest.approx(0.70e6)
    # log interpolation: the geometric midpoint of 3 and 10 MW is the arithmetic mean of costs
    assert heat_pump_capex_eur_per_mw(math.sqrt(30.0)) == pytest.approx((0.885e6 + 0.70e6) / 2)
    sizes = np.geomspace(0.5, 20, 50)
    assert np.all(np.diff(heat_pump_capex_eur_per_mw(sizes)) <= 0)
    with pytest.raises(ConfigError, match="size_mw"):
        heat_pump_capex_eur_per_mw(0.0)


# --- CO2 ------------------------------------------------------------------------------------


def test_co2_avoided_golden_3_numbers():
    # 93,049 MWh * 0.204/0.95 - 18,151 MWh * 0.135 = 18,982.0/0.95 - 2,450.4
    value = co2_avoided_t_per_yr(93_049.0, 18_151.0)
    assert value == pytest.approx(18_981.996 / 0.95 - 2_450.385, abs=0.01)
    assert co2_avoided_t_per_yr(1_000.0, 0.0, 0.2, 0.1) == pytest.approx(200.0)
    # a dirty grid can make the project a net emitter
    assert co2_avoided_t_per_yr(100.0, 100.0, 0.2, 0.5) < 0
    with pytest.raises(ConfigError, match="electricity_mwh_per_yr"):
        co2_avoided_t_per_yr(100.0, -1.0)


# --- heat-pump electricity: taxes, tariffs, consumption-weighted price ----------------------


def test_heat_pump_electricity_price_adds_danish_tax_and_tariffs():
    # defaults: 0.4 + 7.4 + 5.1 + 10 oere/kWh = 22.9 oere/kWh = 229 DKK/MWh on top of energy
    total = heat_pump_electricity_price_eur_per_mwh(60.0)
    assert total == pytest.approx(60.0 + 229.0 / 7.46, rel=1e-12)
    assert ELECTRICITY_TAX_HEAT_PUMP_DK_EUR_PER_MWH == pytest.approx(4.0 / 7.46)
    assert TSO_TARIFF_DK_2024_EUR_PER_MWH == pytest.approx((7.4 + 5.1) * 10 / DKK_PER_EUR)
    assert DSO_TARIFF_DK_EUR_PER_MWH > 0
    bare = heat_pump_electricity_price_eur_per_mwh(
        np.array([-10.0, 50.0]),
        electricity_tax_eur_per_mwh=0.0,
        tso_tariff_eur_per_mwh=0.0,
        dso_tariff_eur_per_mwh=np.array([5.0, 20.0]),  # time-of-use
    )
    np.testing.assert_allclose(bare, [-5.0, 70.0])
    with pytest.raises(ConfigError, match="dso_tariff"):
        heat_pump_electricity_price_eur_per_mwh(60.0, dso_tariff_eur_per_mwh=-1.0)
    with pytest.raises(ConfigError, match="energy_price"):
        heat_pump_electricity_price_eur_per_mwh(np.array([1.0, np.nan]))


def test_consumption_weighted_price_and_lcoh_electricity_term():
    w = np.array([[2.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    p = np.array([100.0, 500.0, 20.0, -20.0])
    got = consumption_weighted_price_eur_per_mwh(w, p)
    assert got[0] == pytest.approx((200.0 + 20.0 - 20.0) / 4.0)
    assert math.isnan(got[1])
    # the LCOH's electricity term with the weighted price is the hourly cost per MWh delivered
    delivered, electricity = 1000.0, 4.0
    lcoh = lcoh_eur_per_mwh([], 0.0, 0.0, got[0], delivered / electricity, delivered, 0.04)
    assert lcoh * delivered == pytest.approx((w[0] * p).sum())
    with pytest.raises(ConfigError, match="same length"):
        consumption_weighted_price_eur_per_mwh(w, p[:3])
    with pytest.raises(ConfigError, match="electricity_mw"):
        consumption_weighted_price_eur_per_mwh(-w, p)
