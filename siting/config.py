"""Study configuration: one validated object, every default from docs/model.md.

A study is a :class:`Study` (where the inputs are, what to write) holding a flat
:class:`Params` (the model's numbers). Both load from YAML or Python; an unknown
key is an error that names the closest valid key, so a typo never silently
falls back to a default.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from siting import validate
from siting.errors import ConfigError
from siting.params_meta import check_fields, document, param

COOLING_TYPES = ("air_coil", "liquid", "immersion")
# Study fields that are file paths (resolved against a YAML study's folder)
PATH_FIELDS = (
    "osm_path",
    "network_path",
    "sites_path",
    "weather_path",
    "networks_path",
    "it_load_path",
    "source_temperature_path",
    "electricity_price_path",
    "exclusion_path",
)
SCORE_CRITERIA = ("lcoh", "homes_served", "route_length", "co2", "grid_distance")
# land a generated site may not take (siting.sources.power.EXCLUSION_TAGS)
SITE_EXCLUSION_KINDS = ("residential", "water", "protected_area", "nature_reserve")
# OSM highway classes a transmission pipe is not laid along (paths, steps, planned roads, ...)
EXCLUDED_HIGHWAYS = tuple(
    "footway steps path pedestrian cycleway bridleway corridor elevator escalator proposed "
    "construction platform raceway bus_guideway".split()
)
# OSM highway=* values (wiki "Key:highway"), for checking street_class_multiplier keys
OSM_HIGHWAY_VALUES = frozenset(
    "motorway trunk primary secondary tertiary unclassified residential motorway_link "
    "trunk_link primary_link secondary_link tertiary_link living_street service pedestrian "
    "track bus_guideway escape raceway road busway footway bridleway steps corridor path "
    "cycleway via_ferrata sidewalk crossing proposed construction platform elevator "
    "escalator unpaved".split()
)


@document
@dataclass(frozen=True)
class Params:
    """Model parameters (docs/model.md). Every field can be overridden in the study config.

    Each field's description, unit, limits, typical range and source are declared once,
    below, with `param()` (siting.params_meta). Source tags: [V Sn] read in cited source n,
    [D] derived, [M] engineering default, "setting" a screening choice of the user.
    """

    # a table, one field per call (not one argument per line), so the formatter is off
    # fmt: off
    # --- heat source (docs/model.md §1)
    # typical: air coil 0.85-0.97, direct liquid 0.7-0.9
    capture_fraction: dict[str, float] = param(
        {"air_coil": 0.95, "liquid": 0.80, "immersion": 0.95}, "share",
        "Share of IT heat captured into water, by cooling type", "[M] docs/model.md §1", gt=0, le=1,
        typical=(0.70, 0.97), keys=COOLING_TYPES)
    # typical: air coil 20-30 [V S11], hot air 30-45 [V S23], direct liquid 45-60 [M]
    source_in_c: dict[str, float] = param(
        {"air_coil": 27.0, "liquid": 50.0, "immersion": 50.0}, "°C",
        "Cooling water from the data center (heat-pump source in), by cooling type",
        "[V S2,S3] air coil; [M] liquid; "
        "docs/model.md §1", typical=(20.0, 60.0), keys=COOLING_TYPES)
    source_out_c: dict[str, float] = param(
        {"air_coil": 17.0, "liquid": 40.0, "immersion": 40.0}, "°C",
        "Cooling water back to the data center (source out), by cooling type",
        "[M] ~10 K below source in, docs/model.md §1", keys=COOLING_TYPES)
    utilisation_it: float = param(
        0.8, "share", "Average IT load as share of nameplate", "[M] docs/model.md §1", gt=0, le=1,
        typical=(0.6, 1.0))
    pue: float = param(
        1.2, "ratio", "PUE: total data-center energy / IT energy (for ERF)", "[M] docs/model.md §1",
        ge=1)
    # --- heat pump (docs/model.md §2)
    eta_lorenz: float = param(
        0.50, "share", "Lorenz efficiency of the heat pump", "[D from V S26] "
        "docs/model.md §2", gt=0,
        le=1, typical=(0.40, 0.55))
    cop_model: str = param(
        "practical", "-",
        "COP model: practical (Lorenz with refrigerant pinch, capped; preheat and direct "
        "exchange where the source allows), textbook Lorenz, or the conservative Jesper et al. "
        "regression", "docs/model.md §2, §8.1, [V S25]", choices=("practical", "lorenz", "jesper"))
    eta_practical: float = param(
        0.61, "share", "Efficiency of the practical COP model (fitted to DEA's 5.0; Kajaani "
        "checks it)", "[D from V S26] docs/model.md §8.1", gt=0, le=1, typical=(0.58, 0.64))
    pinch_k: float = param(
        4.0, "K", "Refrigerant-side pinch: evaporation below the source, condensation above "
        "the sink", "[M] docs/model.md §8.1", ge=0, typical=(3.0, 5.0))
    approach_k: float = param(
        3.0, "K", "Water-to-water exchanger approach (direct exchange and preheat limits)",
        "[M] docs/model.md §8.1", ge=0, typical=(2.0, 5.0))
    cop_max: float = param(
        7.0, "ratio", "Practical ceiling of a large heat pump's COP", "[M] "
        "docs/model.md §8.1", gt=1,
        typical=(6.0, 8.0))
    hp_availability: float = param(
        0.95, "share", "Heat-pump availability (planned maintenance in summer weeks)",
        "[M] docs/model.md §8.1", gt=0, le=1, typical=(0.90, 0.98))
    maintenance_weeks: float = param(
        4.0, "weeks", "Planned maintenance block per year (in the low-demand summer)", "[M]",
        ge=0, le=52, typical=(2.0, 6.0))
    maintenance_start_week: float = param(
        28.0, "week", "Week of the year the maintenance block starts (28 = 8 July)", "[M]",
        ge=0, le=52, typical=(26.0, 32.0))
    min_part_load: float = param(
        0.25, "share", "Lowest stable load of one heat-pump unit, share of its capacity",
        "[M] docs/model.md §8.1", ge=0, lt=1, typical=(0.1, 0.4))
    max_unit_mw: float = param(
        5.0, "MW", "Largest heat-pump unit (a plant is split in equal units up to this)",
        "[M]; Odense: nine units for up to 25 MW [V S2]", gt=0, typical=(2.0, 10.0))
    # --- network temperatures and annual use (docs/model.md §3)
    supply_temp_c: float = param(
        75.0, "°C", "District-heating supply temperature (hourly model: if supply_curve is off)",
        "[V S3,S24] docs/model.md §3", typical=(70.0, 85.0))
    return_temp_c: float = param(
        40.0, "°C", "District-heating return temperature", "[V S3,S24] docs/model.md §3",
        typical=(35.0, 50.0))
    annual_utilisation: float = param(
        0.75, "share", "Share of available heat the network takes over a year (u, annual model)",
        "[V S13] docs/model.md §3", gt=0, le=1)
    # --- transmission pipe (docs/model.md §4)
    pipe_delta_t_k: float = param(
        35.0, "K", "Supply minus return across the transmission pipe (sizing)", "[D] "
        "docs/model.md §4",
        gt=0, typical=(30.0, 40.0))
    street_class_multiplier: dict[str, float] = param(
        {}, "factor", "Trench-cost multiplier by OSM highway class; {} = docs/model.md defaults",
        "[D] docs/model.md §4", keys=sorted(OSM_HIGHWAY_VALUES))
    excluded_highways: tuple[str, ...] = param(
        EXCLUDED_HIGHWAYS,
        "-", "OSM highway classes a transmission route never follows", "setting")
    # the route search carries it as metres of the reference trench (routing.CROSSING_REFERENCE_*)
    crossing_cost_eur: float = param(
        0.0, "EUR", "Extra cost per motorway/trunk/rail crossing (0 = off)",
        "docs/model.md §4 (user setting)", ge=0)
    heat_pump_max_supply_c: float = param(
        90.0, "°C",
        "Hottest supply a site's heat pump delivers; hotter network pipes are not tapped", "[M]",
        gt=0)
    max_snap_distance_m: float = param(
        500.0, "m", "A site farther than this from any street is flagged", "setting", gt=0)
    max_route_length_m: float = param(
        20_000.0, "m", "Longest transmission route screened", "setting", gt=0)
    pipe_life_yr: float = param(40.0, "yr", "Pipe economic life", "[M] docs/model.md §4", gt=0)
    pipe_om_fraction: float = param(
        0.01, "share/yr", "Pipe O&M per year, as share of pipe CAPEX", "[M] docs/model.md §4")
    pipe_vom_eur_per_mwh_km: float = param(
        0.1, "EUR/MWh/km", "Pipe variable O&M per MWh carried and km", "[V S27] docs/model.md §4")
    # --- new local network (DESIGN.md mode 2)
    linear_heat_density_min_mwh_per_m: float = param(
        1.5, "MWh/m/yr", "Lowest linear heat density at which a new local network is viable",
        "[M] DESIGN.md mode 2", typical=(1.5, 1.8))
    local_search_radius_m: float = param(
        3_000.0, "m", "Route length searched around a site for a new local network", "setting",
        gt=0)
    # --- heat pump economics (docs/model.md §5)
    heat_pump_life_yr: float = param(25.0, "yr", "Heat-pump life", "[V S26] docs/model.md §5", gt=0)
    heat_pump_fom_eur_per_mw_yr: float = param(
        2_000.0, "EUR/MW/yr", "Heat-pump fixed O&M per MW of heat output", "[V S26] "
        "docs/model.md §5")
    heat_pump_vom_eur_per_mwh: float = param(
        2.0, "EUR/MWh", "Heat-pump variable O&M per MWh delivered", "[V S26] docs/model.md §5")
    heat_pump_capex_factor: float = param(
        1.0, "factor", "Scales the docs/model.md heat-pump CAPEX curve",
        "setting; range docs/model.md §5 (10 MW: 0.57-0.95 M EUR/MW around 0.70)", gt=0,
        typical=(0.57 / 0.70, 0.95 / 0.70))
    pipe_cost_factor: float = param(
        1.0, "factor", "Scales the trench cost table (e.g. local prices)",
        "setting; range [M] (paved vs open ground)", gt=0, typical=(0.75, 1.5))
    discount_rate: float = param(
        0.04, "share/yr", "Discount rate (social 3.5 %, utility 5 %)", "[V S38] "
        "docs/model.md §5", ge=0,
        lt=1, typical=(0.035, 0.05))
    electricity_price_eur_per_mwh: float = param(
        80.0, "EUR/MWh",
        "Electricity energy price (spot) paid by the heat pump; taxes and grid tariffs are "
        "added; an hourly series (electricity_price_path) replaces it", "[M] docs/model.md §5",
        ge=0, typical=(40.0, 150.0))
    electricity_tax_eur_per_mwh: float = param(
        0.54, "EUR/MWh",
        "Electricity tax on heat-pump electricity for heating (Denmark: EU minimum rate, from "
        "2021; holds 2024/25)", "[V] Danish bill L 90 2020/21", ge=0, typical=(0.54, 1.07))
    tso_tariff_eur_per_mwh: float = param(
        16.8, "EUR/MWh", "Transmission (TSO) tariffs per MWh (Energinet 2024 net + system)",
        "[V] Energinet 2024 tariffs", ge=0)
    dso_tariff_eur_per_mwh: float = param(
        13.4, "EUR/MWh", "Distribution (DSO) tariff per MWh at 10 kV", "[M] Elnet Øst 2021 basis",
        ge=0, typical=(8.0, 27.0))
    heat_price_eur_per_mwh: float = param(
        70.0, "EUR/MWh", "Price of the heat replaced (NPV reference)", "[V S43] "
        "docs/model.md §5", ge=0)
    analysis_years: float = param(25.0, "yr", "Years of the NPV analysis", "setting", gt=0)
    ef_displaced_t_per_mwh: float = param(
        0.204 / 0.95, "t CO2/MWh", "CO2 of the heat replaced (gas boiler: 0.204 fuel / 0.95)",
        "[V S33] docs/model.md §5")
    ef_electricity_t_per_mwh: float = param(
        0.135, "t CO2/MWh", "CO2 of grid electricity (BR18 2025; 2030: 0.047)",
        "[V S31] docs/model.md §5")
    # --- buildings and homes (docs/model.md §6)
    # typical: a flat (7.8) .. the pre-2025 standard house (18.1)
    mwh_per_home: float = param(
        14.0, "MWh/yr", "Heat per home (2025 Danish standard house; 18.1 = pre-2025 claims)",
        "[V S30] docs/model.md §6", gt=0, typical=(7.8, 18.1))
    net_to_gross: float = param(
        0.8, "share", "Net (heated) floor area / gross floor area", "docs/model.md §6", gt=0, le=1)
    dwelling_area_house_m2: float = param(
        125.0, "m²", "Net floor area per dwelling in a house", "[V S30] docs/model.md §6", gt=0)
    dwelling_area_flat_m2: float = param(
        80.0, "m²", "Net floor area per dwelling in a flat", "[V S30] docs/model.md §6", gt=0)
    min_heated_footprint_m2: float = param(
        30.0, "m²", "Smaller buildings (sheds, garages) carry no heat demand", "setting")
    floor_height_m: float = param(
        3.0, "m", "Storey height (levels from a building's height)", "docs/model.md §6", gt=0)
    full_load_hours_h: float = param(
        2_000.0, "h/yr", "Full-load hours: building peak = annual demand / this", "[M]", gt=0)
    house_footprint_max_m2: float = param(
        300.0, "m²", "Untyped building=yes smaller than this is a house", "[M]", gt=0)
    homes_standard: str = param(
        "dk_house_2025", "-",
        "Standard home for homes_served: dk_house_2025 (14.0 MWh), dk_house_legacy (18.1, the "
        "2017-2024 claims), dk_flat (7.8) or custom (mwh_per_home)", "[V S30] docs/model.md §6",
        choices=("dk_house_2025", "dk_house_legacy", "dk_flat", "custom"))
    # --- building calibration on Danish measured consumption (docs/model.md §8.2; siting.demand)
    eaves_m: float = param(
        0.3, "m", "Roof overhang taken off OSM outlines to get BBR outer-wall area", "[M]",
        ge=0, le=2, typical=(0.0, 0.6))
    roof_level_area_factor: float = param(
        0.65, "share", "Heated share of a tagged roof level's area", "[M] BBR attic rule",
        ge=0, le=1, typical=(0.5, 0.8))
    annex_max_footprint_m2: float = param(
        60.0, "m²", "Untyped building this small beside a much larger one is an annex (no heat)",
        "[D] tagged garages/sheds, Lyngby", ge=0, typical=(40.0, 80.0))
    annex_distance_m: float = param(
        10.0, "m", "Distance within which a small building is an annex of a larger one", "[M]",
        ge=0, typical=(5.0, 20.0))
    block_max_depth_m: float = param(
        14.0, "m", "Untyped large building up to this depth is a block of flats",
        "[D] Lyngby tags", gt=0, typical=(12.0, 16.0))
    terrace_max_depth_m: float = param(
        10.0, "m", "Untyped large building up to this depth is a terrace", "[D] Lyngby tags",
        gt=0, typical=(9.0, 11.5))
    shed_row_max_depth_m: float = param(
        6.0, "m", "Untyped building up to this depth is a row of garages/sheds", "[M]", gt=0,
        typical=(5.0, 7.0))
    neighbour_radius_m: float = param(
        100.0, "m", "Radius of the tagged neighbours that classify an untyped building", "[M]",
        gt=0, typical=(50.0, 200.0))
    neighbour_levels_radius_m: float = param(
        200.0, "m", "Radius of the tagged neighbours whose median levels an untagged one takes",
        "[M]", gt=0, typical=(100.0, 400.0))
    address_coverage_m: float = param(
        100.0, "m", "Address points this near count as covering a building's area", "[M]",
        gt=0, typical=(50.0, 200.0))
    # calibration; keys are building classes (house, apartments, office, ...) or construction
    # periods ("<=1962", "1963-1978", "1979-1998", "1999-2006", ">=2007")
    specific_demand_by_class_kwh_per_m2: dict[str, float] = param(
        {}, "kWh/m²/yr", "Heat demand per net m² by building class; {} = docs/model.md §6 values",
        "[M] docs/model.md §6", ge=0)
    specific_demand_by_period_kwh_per_m2: dict[str, float] = param(
        {}, "kWh/m²/yr", "Heat demand per net m² by construction period; {} = "
        "docs/model.md §6 values",
        "[M] docs/model.md §6", ge=0)
    # --- hourly model (docs/model.md §3): a year of weather decides how much heat the network takes
    recovery_model: str = param(
        "hourly", "-", "Heat delivered from an hourly weather year, or annual: Q x 8760 x u",
        "docs/model.md §3", choices=("hourly", "annual"))
    network_annual_demand_mwh: float = param(
        0.0, "MWh/yr", "Existing network's annual heat demand; 0 = estimated from buildings",
        "setting", ge=0)
    network_service_distance_m: float = param(
        100.0, "m", "Buildings this near a pipe count as the network's load", "setting")
    share_max: float = param(
        1.0, "share", "Largest share of the network's hourly load one site may cover",
        "docs/model.md §3", gt=0, le=1)
    dhw_share: float = param(
        0.2, "share", "Domestic hot water share of annual demand, flat over the year",
        "[M] docs/model.md §3", ge=0, lt=1)
    heating_base_c: float = param(17.0, "°C", "Heating degree-hour base", "docs/model.md §3")
    supply_curve: bool = param(
        True, "-", "Supply temperature follows outdoor temperature (off: supply_temp_c)",
        "docs/model.md §3")
    supply_cold_c: float = param(
        80.0, "°C", "Supply temperature at outdoor_cold_c", "docs/model.md §3 example")
    outdoor_cold_c: float = param(
        -12.0, "°C", "Outdoor temperature of the supply_cold_c point", "docs/model.md §3 example")
    supply_warm_c: float = param(
        70.0, "°C", "Supply temperature at outdoor_warm_c and above", "docs/model.md §3 example")
    outdoor_warm_c: float = param(
        15.0, "°C", "Outdoor temperature of the supply_warm_c point", "docs/model.md §3 example")
    network_loss_share: float = param(
        0.2, "share",
        "Distribution losses of an existing network, flat over the year, as share of the heat "
        "fed in (a registry's delivered heat includes them; building demand is grossed up)",
        "[M] Danish networks lose 15-25 % of supply", ge=0, lt=1, typical=(0.15, 0.25))
    # --- where the district heating is (siting.networks; issue: network registry)
    dh_areas: bool = param(
        True, "-", "Locate district heating from heat density where pipes are unknown",
        "Hotmaps CM district heating potential")
    dh_area_min_cell_mwh_per_ha: float = param(
        333.0, "MWh/ha/yr", "DH areas: 100 m cells of at least this heat density",
        "[V] HotMaps/dh_potential cm/app/constant.py", ge=0)
    dh_area_min_gwh_per_yr: float = param(
        30.0, "GWh/yr",
        "DH areas: connected cells kept if their demand reaches this (waived where a registry "
        "network serves the place)", "[V] HotMaps/dh_potential cm/app/constant.py", ge=0)
    network_match_max_distance_m: float = param(
        10_000.0, "m", "Farthest registry supply area or municipality a site is matched to",
        "[M]", ge=0, typical=(2_000.0, 20_000.0))
    must_run_from_registry: bool = param(
        True, "-",
        "Waste incineration, surplus heat and solar of the matched registry network serve the "
        "load before the data center", "docs/model.md §8.4")
    must_run_mwh_per_yr: float = param(
        0.0, "MWh/yr", "Further must-run supply of the existing network, flat over the year",
        "setting", ge=0)
    storage_mwh: float = param(
        0.0, "MWh", "Daily-cycle storage tank per site (0 = none)", "setting", ge=0)
    heat_pump_max_mw: float = param(
        0.0, "MW", "Heat-pump output cap per site (0 = sized to its peak)", "setting", ge=0)
    # --- the data center's power-grid connection (siting.stages.grid)
    grid_connection_eur_per_mw_km: float = param(
        3_300.0, "EUR/MW/km",
        "Grid connection: cable from the site to its substation, per MW of the site's grid "
        "demand and km", "[D] 442 EUR/MW/km HVAC overhead line (PyPSA technology-data, "
        "Hagspiel et al. 2014 Tab. A.2, EUR2011) x 7.5, the middle of the 5-10x cost of an "
        "underground cable over an overhead line (EC background paper 'Undergrounding of "
        "electricity lines in Europe', 2003)", ge=0, typical=(2_200.0, 4_400.0))
    grid_connection_life_yr: float = param(
        40.0, "yr", "Grid connection (cable) economic life",
        "[V] PyPSA technology-data 'HVAC overhead' lifetime (Hagspiel et al. 2014)", gt=0)
    grid_connection_om_fraction: float = param(
        0.02, "share/yr", "Grid connection O&M per year, as share of its CAPEX",
        "[V] PyPSA technology-data 'HVAC overhead' FOM 2 %/yr (Hagspiel et al. 2014)", ge=0,
        lt=1)
    # keys: the site's grid demand in MW from which the voltage applies (IT load x PUE plus
    # the heat pump's electricity); values: the lowest substation voltage it connects at
    grid_voltage_kv_by_mw: dict[str, float] = param(
        {"0": 10.0, "10": 30.0, "50": 110.0, "200": 220.0}, "kV",
        "Lowest substation voltage a site connects at, by its grid demand (MW from which it "
        "applies)", "[V] UK practice for data centres (yobitel.com 'DC substation'): 33 kV "
        "for 10-100 MW, 132 kV for 50-300 MW, 275/400 kV from 200 MW; mapped to the voltage "
        "classes OSM tags (10, 30-60, 110-150, 220-400 kV)", ge=0)
    grid_max_distance_m: float = param(
        8_000.0, "m", "A site farther than this from a substation of its voltage is flagged "
        "(not dropped)", "[V] dataacre.io 'Data center land requirements': under 1 mile from "
        "a substation ideal, under 5 miles (8 km) workable, over 20 (32 km) a dealbreaker",
        gt=0, typical=(1_600.0, 32_000.0))
    grid_distance_method: str = param(
        "roads", "-", "Distance to the substation: along the street graph (straight line "
        "where no street reaches), or straight line for every site", "setting",
        choices=("roads", "straight_line"))
    # fmt: on

    def __post_init__(self) -> None:
        check_fields(self, "params")
        _check_params(self)

    def replace(self, **changes: Any) -> Params:
        """Return a copy with `changes` applied (validated, unknown keys rejected)."""
        _reject_unknown(changes, _field_names(Params), "params")
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Params:
        """Build from a plain mapping (e.g. the `params:` block of a YAML study)."""
        data = _as_mapping(data, "params")
        _reject_unknown(data, _field_names(cls), "params")
        if isinstance(data.get("excluded_highways"), list | tuple):
            data["excluded_highways"] = tuple(data["excluded_highways"])
        for key in ("capture_fraction", "source_in_c", "source_out_c"):
            if key in data:  # a partial mapping overrides only the cooling types it names
                given = _as_mapping(data[key], f"params.{key}")
                _reject_unknown(given, list(COOLING_TYPES), f"params.{key} cooling type")
                merged = dict(getattr(cls(), key))
                merged.update(given)
                data[key] = merged
        if data.get("street_class_multiplier"):
            given = _as_mapping(data["street_class_multiplier"], "params.street_class_multiplier")
            _reject_unknown(
                {str(k).lower(): v for k, v in given.items()},
                sorted(OSM_HIGHWAY_VALUES),
                "params.street_class_multiplier highway class",
            )
        return cls(**data)


@document
@dataclass(frozen=True)
class Study:
    """Where a study's inputs are and how to run it.

    Paths may be None: without `osm_path` the demo extract is used only by
    `siting demo`; without `network_path` heat pipes found in the OSM extract are
    used, and without any network the study runs in new-local-network mode.
    """

    # a table, one field per call (not one argument per line), so the formatter is off
    # fmt: off
    name: str = param("study", "-", "Study name (report title)", "setting")
    osm_path: Path | None = param(
        None, "-", "OSM extract: .osm.pbf, .osm or .osm.gz", "setting")
    network_path: Path | None = param(
        None, "-",
        "District-heating network (GeoJSON/GPKG lines or plant points); none = heat pipelines "
        "in the OSM extract, else new-local-network mode",
        "setting")
    sites_path: Path | None = param(
        None, "-", "Candidate sites (points/polygons); none = generated from OSM",
        "setting")
    out_dir: Path = param(Path("siting-out"), "-", "Output folder", "setting")
    default_it_load_mw: float = param(
        5.0, "MW", "IT load of sites without their own", "setting", gt=0)
    default_cooling: str = param(
        "air_coil", "-", "Cooling type of sites without their own", "docs/model.md §1",
        choices=COOLING_TYPES)
    ranking: str = param(
        "lcoh", "-", "Ranking method: cheapest heat first, or a weighted score", "DESIGN.md",
        choices=("lcoh", "score"))
    score_weights: dict[str, float] = param(
        {"lcoh": 0.4, "homes_served": 0.3, "route_length": 0.1, "grid_distance": 0.2}, "weight",
        "Weights of the criteria in the score ranking", "setting", keys=SCORE_CRITERIA)
    use_osm_network: bool = param(
        True, "-", "Use heat pipelines (man_made=pipeline) found in the OSM extract", "setting")
    max_generated_sites: int = param(200, "count", "Most sites generated from OSM", "setting")
    min_site_building_m2: float = param(
        2_000.0, "m²", "Generated sites: non-residential buildings at least this large", "setting")
    min_site_parcel_m2: float = param(
        5_000.0, "m²", "Generated sites: industrial/commercial parcels at least this large",
        "setting")
    crs: str | None = param(
        None, "-", "Projected metric CRS, e.g. EPSG:25832; none = the national grid of the area's "
        "country (EPSG:25832 in Denmark, 3006 Sweden, 3067 Finland, ...), else its UTM zone",
        "setting")
    networks_path: Path | None = param(
        None, "-",
        "Network registry (CSV with lon/lat, GeoJSON or GPKG: annual heat, fuels, must-run, "
        "price per network); none = the built-in Danish registry", "setting")
    use_builtin_registry: bool = param(
        True, "-", "Match sites to the built-in Danish network registry (DEA statistics)",
        "setting")
    weather_path: Path | None = param(
        None, "-",
        "Hourly outdoor temperature: EPW, CSV (timestamp, °C) or Daisy .dwf; none = a typical "
        "Danish year",
        "setting")
    it_load_path: Path | None = param(
        None, "-", "Hourly IT load (CSV/Parquet: timestamp, share of nameplate or MW); none = "
        "constant utilisation_it", "setting")
    source_temperature_path: Path | None = param(
        None, "-", "Hourly source (server cooling water) inlet temperature, °C (CSV/Parquet); "
        "none = constant by cooling type", "setting")
    electricity_price_path: Path | None = param(
        None, "-", "Hourly electricity energy price, EUR/MWh (CSV/Parquet); none = the flat "
        "electricity_price_eur_per_mwh", "setting")
    weather_year: int | None = param(
        None, "year", "Year of a multi-year weather file; none = the last complete year", "setting")
    top_n_routes: int = param(50, "count", "Routes drawn on the map", "setting")
    max_route_geometries: int = param(
        2_000, "count", "Route lines built, cheapest first (all routes get costs)", "setting")
    site_it_density_mw_per_ha: float = param(
        2.0, "MW/ha", "Generated sites: IT load per hectare of usable parcel (0 = every "
        "generated site gets default_it_load_mw)", "[D] hyperscale campuses draw 100-500 MW "
        "on 100-500+ acres (powerreadysites.com 'Data center site requirements'): ~1 MW/acre "
        "= 2.5 MW/ha of grid demand, / PUE 1.2 = 2 MW IT per ha", ge=0, typical=(1.0, 5.0))
    max_site_it_load_mw: float = param(
        100.0, "MW", "Generated sites: largest IT load a parcel gets", "[D] the lower end of "
        "a hyperscale campus (100-500 MW, powerreadysites.com)", gt=0, typical=(50.0, 300.0))
    site_exclusions: tuple[str, ...] = param(
        SITE_EXCLUSION_KINDS, "-", "Generated sites: land they may not take (OSM residential "
        "land use, water, protected areas, nature reserves)", "setting")
    exclusion_path: Path | None = param(
        None, "-", "Generated sites: polygons they may not take besides OSM's (e.g. flood "
        "zones; GeoJSON/GPKG/Shapefile/GeoParquet)", "setting")
    use_cache: bool = param(
        True, "-", "Cache graph, layers, demand and results on disk ($SITING_CACHE_DIR)", "setting")
    params: Params = param(
        unit="-", desc="Model parameters (siting.Params)", source="docs/model.md", factory=Params)
    # fmt: on

    def __post_init__(self) -> None:
        check_fields(self, "study")
        for key in PATH_FIELDS:
            value = getattr(self, key)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, key, Path(value))
        if not isinstance(self.out_dir, Path):
            object.__setattr__(self, "out_dir", Path(self.out_dir))
        if isinstance(self.params, dict):
            object.__setattr__(self, "params", Params.from_dict(self.params))
        if isinstance(self.site_exclusions, list):
            object.__setattr__(self, "site_exclusions", tuple(self.site_exclusions))
        unknown_kinds = set(self.site_exclusions) - set(SITE_EXCLUSION_KINDS)
        if unknown_kinds:
            raise ConfigError(
                f"site_exclusions has unknown kinds {sorted(unknown_kinds)}; use any of "
                f"{', '.join(SITE_EXCLUSION_KINDS)} (exclusion_path adds your own polygons)."
            )
        unknown = set(self.score_weights) - set(SCORE_CRITERIA)
        if unknown:
            raise ConfigError(
                f"score_weights has unknown criteria {sorted(unknown)}; use "
                f"{', '.join(SCORE_CRITERIA)}."
            )
        if self.crs is not None:
            import pyproj

            try:
                pyproj.CRS.from_user_input(self.crs)
            except pyproj.exceptions.CRSError as exc:
                raise ConfigError(
                    f"crs {self.crs!r} is not a CRS pyproj knows; give the EPSG code of a "
                    "projected metric CRS (e.g. EPSG:25832) or leave crs empty for the national "
                    "grid."
                ) from exc

    def replace(self, **changes: Any) -> Study:
        """Return a copy with `changes` applied (validated, unknown keys rejected)."""
        _reject_unknown(changes, _field_names(Study), "study")
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: dict[str, Any], base_dir: Path | None = None) -> Study:
        """Build from a mapping; relative paths are resolved against `base_dir`."""
        data = _as_mapping(data, "study")
        _reject_unknown(data, _field_names(cls), "study")
        params = Params.from_dict(data.pop("params", None))
        return cls(params=params, **_resolve_paths(data, base_dir))

    def with_params(self, **changes: Any) -> Study:
        """A copy with these model parameters replaced, validated as a YAML `params:` block.

        A partial mapping for a mapping-valued parameter (``capture_fraction={"liquid":
        0.9}``) changes only the keys it names. Unknown names are a ConfigError naming the
        closest valid one; values past their plausible limits too (:mod:`siting.validate`).

        >>> Study().with_params(discount_rate=0.05).params.discount_rate
        0.05
        """
        current = {f.name: getattr(self.params, f.name) for f in dataclasses.fields(Params)}
        _reject_unknown(changes, list(current), "params")
        for key, value in changes.items():
            if isinstance(current[key], dict) and isinstance(value, dict):
                value = {**current[key], **value}
            current[key] = value
        study = dataclasses.replace(self, params=Params.from_dict(current))
        validate.check_study(study)
        return study

    def with_settings(self, settings: dict[str, Any], base_dir: Path | None = None) -> Study:
        """A copy with settings applied: ``{"name": "east", "params.discount_rate": 0.05}``.

        Keys are Study fields or dotted paths into them (``params.<name>``,
        ``params.capture_fraction.liquid``, ``score_weights.lcoh``); values are what a
        study YAML holds and go through the same checks (`siting run --set KEY=VALUE`).
        Relative paths are taken against `base_dir` (default: the current folder).
        """
        top: dict[str, Any] = {}
        params: dict[str, Any] = {}
        for key, value in settings.items():
            head, *rest = str(key).split(".")
            if head == "params":
                if not rest:
                    params.update(_as_mapping(value, "params"))
                    continue
                _set_nested(params, rest, value)
            elif rest:
                _reject_unknown({head: value}, _field_names(Study), "study")
                base = getattr(self, head)
                if not isinstance(base, dict):
                    raise ConfigError(f"{head} is not a mapping; set it as {head}=VALUE.")
                top[head] = _set_nested(dict(top.get(head, base)), rest, value)
            else:
                top[head] = value
        validate.check_raw_config(top, "settings")
        _reject_unknown(top, [f for f in _field_names(Study) if f != "params"], "study")
        study = dataclasses.replace(self, **_resolve_paths(top, base_dir))
        study = study.with_params(**params) if params else study
        validate.check_study(study)
        return study

    @classmethod
    def from_yaml(cls, path: str | Path) -> Study:
        """Load a study from a YAML file (paths inside are relative to the file)."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"study config {path} does not exist; check the path.")
        try:
            # bounded: size, and alias expansion (a "billion laughs" file is refused)
            data = validate.load_yaml_file(path) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(
                f"study config {path} is not valid YAML: {_yaml_problem(exc)}"
            ) from exc
        if not isinstance(data, dict):
            raise ConfigError(
                f"study config {path} must be a mapping of keys (name:, osm_path:, params: ...), "
                f"got a {type(data).__name__}; write one `key: value` per line."
            )
        validate.check_raw_config(data, f"study config {path}")
        try:
            study = cls.from_dict(data, base_dir=path.parent)
        except ConfigError as exc:
            raise ConfigError(f"study config {path}: {exc}") from exc
        validate.check_study(study, where=f"study config {path}")  # plausible ranges
        return study


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """One line: what the YAML parser found wrong and where (line/column are 1-based)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    context = getattr(exc, "context", None)
    context = f" ({context})" if context else ""
    return (
        f"{problem}{context}{where}; fix the syntax there (indent with spaces, quote values "
        "holding ':' or '#')."
    )


def _as_mapping(data: Any, where: str) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{where} must be a mapping of `key: value` settings, got {type(data).__name__} "
            f"{data!r}."
        )
    return dict(data)


def parse_setting(text: str) -> tuple[str, Any]:
    """``"params.discount_rate=0.05"`` -> ``("params.discount_rate", 0.05)``: the value as YAML."""
    key, sep, value = str(text).partition("=")
    if not sep or not key.strip():
        raise ConfigError(
            f"--set {text!r} is not KEY=VALUE; write e.g. --set params.discount_rate=0.05 or "
            "--set name='Odense east'."
        )
    return key.strip(), validate.load_yaml_value(value.strip(), f"--set {key.strip()}")


def _set_nested(target: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    """Set `value` at the dotted `path` in `target` (mappings made on the way); return it."""
    node = target
    for part in path[:-1]:
        child = node.get(part)
        node[part] = dict(child) if isinstance(child, dict) else {}
        node = node[part]
    node[path[-1]] = value
    return target


def _resolve_paths(data: dict[str, Any], base_dir: Path | None) -> dict[str, Any]:
    """Path fields of a raw mapping as Paths, relative ones taken against `base_dir`."""
    data = dict(data)
    for key in (*PATH_FIELDS, "out_dir"):
        if data.get(key) is not None:
            if not isinstance(data[key], str | Path):
                raise ConfigError(
                    f"{key} must be a file path, got {data[key]!r}; write it as a plain "
                    "string (relative paths are relative to the study file)."
                )
            path = Path(str(data[key])).expanduser()
            if base_dir is not None and not path.is_absolute():
                path = base_dir / path
            data[key] = path
    return data


def _field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _reject_unknown(data: dict[str, Any], valid: list[str], where: str) -> None:
    for key in data:
        if key not in valid:
            close = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.5)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            what = where if where.endswith(("type", "class")) else f"{where} setting"
            raise ConfigError(f"unknown {what} {key!r}.{hint} Valid: {', '.join(valid)}.")


def _check_params(p: Params) -> None:
    """The checks that relate fields (each field's own limits: params_meta.check_fields)."""
    if p.supply_temp_c <= p.return_temp_c:
        raise ConfigError(
            f"params.supply_temp_c ({p.supply_temp_c} °C) must be above return_temp_c "
            f"({p.return_temp_c} °C)."
        )
    if p.outdoor_cold_c >= p.outdoor_warm_c:
        raise ConfigError(
            f"params.outdoor_cold_c ({p.outdoor_cold_c}) must be below outdoor_warm_c "
            f"({p.outdoor_warm_c}) for the supply-temperature curve."
        )
    if p.supply_curve and min(p.supply_cold_c, p.supply_warm_c) <= p.return_temp_c:
        raise ConfigError(
            "the supply-temperature curve (supply_cold_c, supply_warm_c) must stay above "
            f"return_temp_c ({p.return_temp_c} °C); raise the curve or set supply_curve: false."
        )
    bad_mw = [k for k in p.grid_voltage_kv_by_mw if not _is_mw_key(k)]
    if bad_mw or not p.grid_voltage_kv_by_mw:
        raise ConfigError(
            f"params.grid_voltage_kv_by_mw keys must be MW from which a voltage applies (numbers "
            f">= 0 written as text, e.g. {{'0': 10, '10': 30}}); got {sorted(map(str, bad_mw))}."
        )
    for key in ("capture_fraction", "source_in_c", "source_out_c"):
        missing = set(COOLING_TYPES) - set(getattr(p, key))
        if missing:
            raise ConfigError(f"params.{key} lacks cooling types {sorted(missing)}.")
    for cooling in COOLING_TYPES:
        if p.source_in_c[cooling] <= p.source_out_c[cooling]:
            raise ConfigError(
                f"params.source_in_c[{cooling!r}] must be above source_out_c (water is cooled)."
            )


def _is_mw_key(key: Any) -> bool:
    try:
        value = float(key)
    except (TypeError, ValueError):
        return False
    return value >= 0 and value == value and value != float("inf")
