"""Self-contained maps: every asset inlined from the vendored copies, nothing from a CDN."""

from __future__ import annotations

import re

import pytest

from siting import assets, cli
from siting.errors import ConfigError
from siting.maps import OFFLINE_NOTE, OSM_ATTRIBUTION

_REMOTE_SRC = re.compile(r"<script\b[^>]*\bsrc=\"(https?:)?//", re.IGNORECASE)
_REMOTE_HREF = re.compile(r"<link\b[^>]*\bhref=\"(https?:)?//", re.IGNORECASE)


def _assert_self_contained(page: str) -> None:
    assert not _REMOTE_SRC.search(page), "a <script src> points at the network"
    assert not _REMOTE_HREF.search(page), "a <link href> points at the network"
    assert "<script src=" not in page and 'rel="stylesheet"' not in page
    for dropped in ("bootstrap", "fontawesome", "awesome-markers", "glyphicons"):
        assert dropped not in page.lower(), dropped
    assert "tile.openstreetmap.org" not in page


@pytest.fixture(scope="module")
def offline_files(demo_results, tmp_path_factory):
    return demo_results.to_files(tmp_path_factory.mktemp("offline"), self_contained=True)


def test_to_files_self_contained_has_no_remote_assets(offline_files):
    page = offline_files["map"].read_text(encoding="utf-8")
    _assert_self_contained(page)
    # only what the map uses: d3 (branca's legends) is vendored for users' own colormaps,
    # but the study map draws its legends in HTML and does not load it
    used = {"leaflet", "jquery", "leaflet-measure"}
    for package in assets.PACKAGES:
        inlined = f"/* {package.name} {package.version} ({package.license}), inlined */" in page
        assert inlined == (package.name in used), package.name
    # the title box is built from a JS string: "©" is written as \u00a9 there
    assert OFFLINE_NOTE in page and OSM_ATTRIBUTION.replace("©", "\\u00a9") in page
    assert "attributionControl.addAttribution" in page
    assert "data:image/png;base64," in page  # CSS images inlined, not fetched from images/


def test_notebook_display_is_self_contained_too(demo_results):
    m = demo_results.map(self_contained=True)
    _assert_self_contained(m.get_root().render())
    assert "&lt;script src=" not in m._repr_html_()


def test_map_is_self_contained_by_default_and_cdn_on_request(demo_results):
    _assert_self_contained(demo_results.map().get_root().render())
    page = demo_results.map(self_contained=False).get_root().render()
    assert "tile.openstreetmap.org" in page
    assert re.search(r'<script src="https://[^"]*leaflet', page)
    assert OFFLINE_NOTE not in page


def test_self_contained_map_is_small(demo_results, tmp_path):
    """Inlining costs only the used assets: well under the 0.75 MB the first offline map had."""
    offline = demo_results.to_files(tmp_path / "a", self_contained=True)["map"]
    online = demo_results.to_files(tmp_path / "b", self_contained=False)["map"]
    extra = offline.stat().st_size - online.stat().st_size
    assert 300_000 < extra < 450_000  # Leaflet + jQuery + leaflet-measure + their CSS images
    assert offline.stat().st_size < 650_000


def test_vendored_assets_match_manifest_and_are_small():
    checked = assets.verify_assets()
    assert len(checked) == sum(len(p.files) for p in assets.PACKAGES)
    total = sum(f.stat().st_size for f in assets.ASSET_DIR.rglob("*") if f.is_file())
    assert total < 1_000_000
    licences = (assets.ASSET_DIR / "LICENSES").read_text(encoding="utf-8")
    for package in assets.PACKAGES:
        assert f"{package.name} {package.version} ({package.license})" in licences


def test_unknown_remote_asset_is_an_error():
    page = '<html><head><script src="https://cdn.example.org/x.js"></script></head></html>'
    with pytest.raises(ConfigError, match="cdn.example.org"):
        assets.inline_page(page)


def test_awesome_markers_are_refused_offline():
    page = "<html><script>L.AwesomeMarkers.icon({})</script></html>"
    with pytest.raises(ConfigError, match="AwesomeMarkers"):
        assets.inline_page(page)


def test_cli_demo_offline(tmp_path, capsys):
    assert cli.main(["demo", "--offline", "--quiet", "--out", str(tmp_path)]) == 0
    _assert_self_contained((tmp_path / "map.html").read_text(encoding="utf-8"))
