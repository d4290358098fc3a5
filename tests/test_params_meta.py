"""Parameters documented once: field metadata feeds docs, validation, CLI help and the schema."""

from __future__ import annotations

import dataclasses
import json
import math
import pydoc

import jsonschema
import pytest
import yaml

from siting import Params, Study
from siting.cli import main
from siting.errors import ConfigError
from siting.params_meta import META_KEY, describe
from siting.schema import parameter_table, study_schema

ALL_FIELDS = [(cls, f) for cls in (Params, Study) for f in dataclasses.fields(cls)]
IDS = [f"{cls.__name__}.{f.name}" for cls, f in ALL_FIELDS]
BOUNDED = [(n, i) for n, i in describe(Params).items() if i.bounds]

# the study file of README.md ("Config"), plus keys of every other kind of value
README_STUDY = """\
name: Odense south-east
osm_path: odense_se_2025.osm.pbf     # relative to this file
default_it_load_mw: 12
ranking: lcoh                        # or "score" with score_weights
params:
  supply_temp_c: 80
  discount_rate: 0.05
  electricity_price_eur_per_mwh: 100
  mwh_per_home: 18.1                 # pre-2025 Danish claims; 14.0 is the 2025 standard
"""
FULL_STUDY = (
    README_STUDY
    + """\
  capture_fraction: {liquid: 0.7}
  excluded_highways: [footway, steps]
  street_class_multiplier: {primary: 3}
  specific_demand_by_period_kwh_per_m2: {"<=1930": 170}
  recovery_model: annual
  supply_curve: false
crs: EPSG:25832
weather_year: 2019
weather_path: null
score_weights: {lcoh: 0.6, co2: 0.4}
use_cache: false
top_n_routes: 20
"""
)


@pytest.mark.parametrize(("cls", "f"), ALL_FIELDS, ids=IDS)
def test_every_field_has_description_unit_and_source(cls, f):
    meta = f.metadata.get(META_KEY)
    assert meta is not None, f"{cls.__name__}.{f.name} is not declared with param()"
    for key in ("description", "unit", "source"):
        assert isinstance(meta[key], str) and meta[key].strip(), f"{f.name} lacks {key}"


def test_metadata_defaults_are_the_dataclass_defaults():
    for cls in (Params, Study):
        obj = cls()
        for name, info in describe(cls).items():
            assert info.default == getattr(obj, name), name
    # mappings come fresh: changing one default cannot leak into the next
    info = describe(Params)["capture_fraction"]
    info.default["liquid"] = 0.1
    assert info.default["liquid"] == 0.8 and Params().capture_fraction["liquid"] == 0.8


def test_model_md_ranges_and_units():
    info = describe(Params)
    # MODEL.md §5: p_el 40-150 EUR/MWh; §2: eta_L 0.40-0.55; §5: social 3.5 %, utility 5 %
    assert info["electricity_price_eur_per_mwh"].typical == (40.0, 150.0)
    assert info["electricity_price_eur_per_mwh"].unit == "EUR/MWh"
    assert info["eta_lorenz"].typical == (0.40, 0.55)
    assert info["discount_rate"].typical == pytest.approx((0.035, 0.05))
    # MODEL.md §3: DH 75/40 °C default (70-85 / 35-50)
    assert info["supply_temp_c"].typical == (70.0, 85.0) and info["supply_temp_c"].unit == "°C"
    assert info["return_temp_c"].typical == (35.0, 50.0)
    assert "S26" in info["eta_lorenz"].source and "S38" in info["discount_rate"].source
    for name, i in info.items():  # every default sits inside its own ranges
        if i.typical and isinstance(i.default, float):
            assert i.typical[0] <= i.default <= i.typical[1], name
        if i.bounds and isinstance(i.default, float):
            assert i.within(i.default), name


def test_sensitivity_sweeps_the_documented_ranges():
    from siting.sweep import DEFAULT_RANGES

    info = describe(Params)
    for name, (low, high) in DEFAULT_RANGES.items():
        assert info[name].typical == pytest.approx((low, high)), name


def test_parameter_table_has_one_row_per_field():
    table = parameter_table()
    assert table["name"].tolist() == [f.name for f in dataclasses.fields(Params)]
    row = table.set_index("name").loc["eta_lorenz"]
    assert row["unit"] == "share" and row["valid"] == "in (0, 1]"
    assert (row["typical_low"], row["typical_high"]) == (0.40, 0.55)
    assert parameter_table(Study).set_index("name").loc["params", "default"] == "Params()"


# --------------------------------------------------------------------------- validation


def _just_outside(bounds: dict[str, float]) -> list[float]:
    out = [bounds["gt"]] if "gt" in bounds else [bounds["ge"] - 0.5] if "ge" in bounds else []
    out += [bounds["lt"]] if "lt" in bounds else [bounds["le"] + 0.5] if "le" in bounds else []
    return out + [math.nan]


@pytest.mark.parametrize(("name", "info"), BOUNDED, ids=[n for n, _ in BOUNDED])
def test_hard_limits_reject_and_the_message_names_them(name, info):
    for bad in _just_outside(info.bounds):
        if isinstance(info.default, dict):  # the limits hold for every value of a mapping
            value = {k: bad for k in info.default} or {"x": bad}
        else:
            value = bad
        with pytest.raises(ConfigError) as err:
            Params(**{name: value})
        msg = str(err.value)
        assert msg.startswith(f"params.{name}") and info.rule in msg and info.unit in msg


def test_message_gives_the_model_md_range():
    with pytest.raises(ConfigError) as err:
        Params(eta_lorenz=1.5)
    msg = str(err.value)
    assert "params.eta_lorenz must be in (0, 1]" in msg and "0.4–0.55" in msg and "0.5" in msg
    with pytest.raises(ConfigError, match=r"params.discount_rate must be in \[0, 1\)"):
        Params(discount_rate=1.0)
    with pytest.raises(ConfigError, match="finite"):
        Params(max_route_length_m=math.inf)


def test_outside_the_plausible_range_but_possible_is_allowed():
    p = Params(electricity_price_eur_per_mwh=200.0, eta_lorenz=0.6, discount_rate=0.08)
    assert p.electricity_price_eur_per_mwh == 200.0 and p.eta_lorenz == 0.6
    assert Params(supply_temp_c=110.0, return_temp_c=60.0, supply_curve=False).supply_temp_c == 110


# --------------------------------------------------------------------------- help texts


def test_help_params_lists_every_field_with_unit_default_range_and_source():
    shown = pydoc.render_doc(Params, renderer=pydoc.plaintext)  # what help(Params) prints
    text = " ".join(" ".join(line.lstrip(" |") for line in shown.splitlines()).split())
    for name, info in describe(Params).items():
        assert f"{name} : {info.type}, default" in text, name
        unit = "none" if info.unit == "-" else info.unit
        assert f"Unit: {unit}." in text and info.source in text, name
    assert (
        "pue : float, default 1.2 PUE: total data-center energy / IT energy (for ERF). Unit: "
        "ratio. Valid: >= 1. Source: [M] docs/model.md §1." in text
    )
    assert "default_it_load_mw : float, default 5" in " ".join(Study.__doc__.split())


def test_cli_help_takes_description_and_unit_from_the_fields(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    info = describe(Study)["default_it_load_mw"]
    assert info.unit == "MW"
    assert f"--it-load-mw IT_LOAD_MW {info.description} (MW) [5]" in text
    assert "ranking method: cheapest heat first, or a weighted score [lcoh]" in text
    assert "hourly outdoor temperature: EPW, CSV (timestamp, °C)" in text
    assert "(E = Q x 8760 x 0.75)" in text  # MODEL.md §3: u = 0.75


# --------------------------------------------------------------------------- JSON Schema


@pytest.fixture(scope="module")
def schema(tmp_path_factory):
    out = tmp_path_factory.mktemp("schema") / "sub" / "study.schema.json"
    assert main(["schema", "--out", str(out)]) == 0
    return json.loads(out.read_text(encoding="utf-8"))


def test_schema_command_prints_the_same_schema(schema, capsys):
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == schema == study_schema()


def test_schema_is_draft_2020_12_with_every_field(schema):
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(schema["properties"]) == {f.name for f in dataclasses.fields(Study)}
    params = schema["properties"]["params"]["properties"]
    assert set(params) == {f.name for f in dataclasses.fields(Params)}
    el = params["electricity_price_eur_per_mwh"]
    assert el["type"] == "number" and el["default"] == 80.0 and el["minimum"] == 0
    assert el["x-unit"] == "EUR/MWh" and "EUR/MWh" in el["description"]
    assert el["x-typical-range"] == [40.0, 150.0] and "maximum" not in el
    assert params["eta_lorenz"]["exclusiveMinimum"] == 0 and params["eta_lorenz"]["maximum"] == 1
    assert params["recovery_model"]["enum"] == ["hourly", "annual"]
    assert schema["properties"]["top_n_routes"]["type"] == "integer"
    assert schema["properties"]["weather_year"]["type"] == ["integer", "null"]
    for name, prop in params.items():
        default = getattr(Params(), name)
        assert prop["default"] == (list(default) if isinstance(default, tuple) else default)


@pytest.mark.parametrize("text", [README_STUDY, FULL_STUDY], ids=["readme", "full"])
def test_real_study_yaml_validates_and_loads(schema, tmp_path, text):
    jsonschema.validate(yaml.safe_load(text), schema, cls=jsonschema.Draft202012Validator)
    path = tmp_path / "study.yaml"
    path.write_text(text, encoding="utf-8")
    assert Study.from_yaml(path).params.supply_temp_c == 80  # siting agrees


@pytest.mark.parametrize(
    "text",
    [
        "params:\n  discount_rat: 0.05\n",  # unknown key
        "params:\n  eta_lorenz: 1.5\n",  # above the hard limit
        "params:\n  recovery_model: daily\n",  # not a choice
        "params:\n  source_in_c: {immersoin: 45}\n",  # unknown cooling type
        "params:\n  pue: '1.3'\n",  # text for a number
        "top_n_routes: 2.5\n",  # not a whole number
        "default_cooling: water\n",
    ],
)
def test_schema_and_siting_reject_the_same_mistakes(schema, tmp_path, text):
    validator = jsonschema.Draft202012Validator(schema)
    assert list(validator.iter_errors(yaml.safe_load(text)))
    path = tmp_path / "study.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError):
        Study.from_yaml(path)


def test_schema_out_to_an_unwritable_place_is_one_error_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["schema", "--out", str(blocker / "schema.json")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("siting: error: cannot write the schema") and "--out" in err
