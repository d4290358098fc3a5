"""Maps and the report in a real browser: headless Chromium, file://, no network, at a
desktop (1280 x 800) and a phone (390 x 844) size; every site's popup opened by a click.

Uses Selenium with Debian's chromium + chromium-driver (/usr/bin/chromium,
/usr/bin/chromedriver; override with SITING_CHROMIUM / SITING_CHROMEDRIVER). Skips with a
reason where either is absent. Screenshots go to $SITING_SCREENSHOTS (default: a temporary
folder), e.g. ``SITING_SCREENSHOTS=maps pytest tests/test_browser.py`` to look at them.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from siting.maps import (
    DN_LEGEND_TITLE,
    HEAT_CAPTION,
    NETWORK_CAPTION,
    OFFLINE_NOTE,
    OSM_ATTRIBUTION,
    RANK_CAPTION,
    SITES_LAYER,
)

CHROMIUM = os.environ.get("SITING_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SITING_CHROMEDRIVER", "/usr/bin/chromedriver")
SIZES = {"desktop": (1280, 800, False), "phone": (390, 844, True)}

# What the page reports about itself once Leaflet has drawn it.
_STATE_JS = """
const isMap = (k) => k.startsWith('map_') && window[k] instanceof L.Map;
const maps = Object.keys(window).filter(isMap);
const isCtrl = (k) => k.startsWith('layer_control_') && k.endsWith('_layers');
const ctrl = Object.keys(window).filter(isCtrl);
const overlays = ctrl.length ? window[ctrl[0]].overlays : {};
const leaves = (l) => (l.getLayers ? l.getLayers().flatMap(leaves) : [l]);
const sites = overlays[arguments[0]] ? leaves(overlays[arguments[0]]) : [];
const routesName = Object.keys(overlays).find(k => k.startsWith('Routes'));
const routes = routesName ? leaves(overlays[routesName]) : [];
const box = document.querySelector('.leaflet-container').getBoundingClientRect();
const el = (l) => l._icon || l._path;
const drawn = (l) => !!(el(l) && document.body.contains(el(l))
    && (!l._path || (l._path.getAttribute('d') || 'M0 0') !== 'M0 0'));
const rect = (e) => { const r = e.getBoundingClientRect();
    return {left: r.left, top: r.top, right: r.right, bottom: r.bottom,
            width: r.width, height: r.height}; };
const inView = (l) => { const r = el(l).getBoundingClientRect();
  return r.width > 0 && r.right > box.left && r.left < box.right
      && r.bottom > box.top && r.top < box.bottom; };
// A marker is hidden if a control or another marker sits on its centre.
const covered = (l) => { const r = el(l).getBoundingClientRect();
  const top = document.elementFromPoint((r.left + r.right) / 2, (r.top + r.bottom) / 2);
  return !top || !el(l).contains(top); };
const viewSites = sites.filter(l => drawn(l) && inView(l)).map(l => el(l).getBoundingClientRect());
const controls = [...document.querySelectorAll('.leaflet-control')]
    .filter(c => c.getBoundingClientRect().width > 0)
    .map(c => ({cls: c.className, ...rect(c)}));
const layersCtl = document.querySelector('.leaflet-control-layers');
return {
  maps: maps.length,
  zoom: window[maps[0]].getZoom(),
  overlayNames: Object.keys(overlays),
  sites: sites.length,
  numbered: sites.filter(l => l._icon && l._icon.querySelector('.siting-rank'))
      .map(l => l._icon.innerText.trim()),
  sitesInView: viewSites.length,
  sitesCovered: sites.filter(l => drawn(l) && inView(l) && covered(l)).length,
  spanX: viewSites.length ? (Math.max(...viewSites.map(r => r.right))
      - Math.min(...viewSites.map(r => r.left))) / box.width : 0,
  spanY: viewSites.length ? (Math.max(...viewSites.map(r => r.bottom))
      - Math.min(...viewSites.map(r => r.top))) / box.height : 0,
  routes: routes.length,
  routesDrawn: routes.filter(drawn).length,
  legend: [...document.querySelectorAll('.siting-legend-section')].map(s => ({
      layer: s.dataset.layer, colors: s.dataset.colors.split(' '), hidden: s.hidden,
      title: (s.querySelector('.siting-legend-title') || {}).textContent || '',
      text: s.textContent,
      rows: [...s.querySelectorAll('.siting-legend-row')].map(r => r.textContent.trim())})),
  legendOpen: (document.querySelector('details.siting-legend-box') || {}).open,
  aboutOpen: (document.querySelector('details.siting-about') || {}).open,
  layersExpanded: layersCtl.classList.contains('leaflet-control-layers-expanded'),
  controls: controls,
  title: (document.querySelector('.siting-title') || {}).innerText || '',
  titleRect: rect(document.querySelector('.siting-title')),
  attribution: (document.querySelector('.leaflet-control-attribution') || {}).innerText || '',
  tiles: document.querySelectorAll('.leaflet-tile').length,
  remote: performance.getEntriesByType('resource').map(e => e.name).filter(n => /^https?:/.test(n)),
  errors: window.__sitingErrors || [],
  page: {scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth},
};
"""

# Click a marker (a real click on its icon, after panning it to the middle of the map) and
# report the popup once it has stopped moving.
_MARKERS_JS = """
const ctrl = Object.keys(window).find(k => k.startsWith('layer_control_') && k.endsWith('_layers'));
return window[ctrl].overlays[arguments[0]].getLayers().filter(l => l instanceof L.Marker).length;
"""
_CENTRE_JS = """
const map = Object.values(window).find(v => v instanceof L.Map);
const ctrl = Object.keys(window).find(k => k.startsWith('layer_control_') && k.endsWith('_layers'));
const ms = window[ctrl].overlays[arguments[0]].getLayers().filter(l => l instanceof L.Marker);
const m = ms[arguments[1]];
map.closePopup();
map.panTo(m.getLatLng(), {animate: false});
return m._icon;
"""
_POPUP_JS = """
const pop = document.querySelector('.leaflet-popup');
if (!pop) { return null; }
const r = pop.getBoundingClientRect();
const content = pop.querySelector('.leaflet-popup-content');
const top = document.elementFromPoint((r.left + r.right) / 2, r.top + 6);
const t = document.querySelector('.siting-title').getBoundingClientRect();
const overTitle = !(r.right <= t.left || r.left >= t.right || r.bottom <= t.top
                    || r.top >= t.bottom);
return {left: r.left, right: r.right, top: r.top, bottom: r.bottom,
        innerWidth: window.innerWidth, innerHeight: window.innerHeight,
        topVisible: !!top && pop.contains(top), overTitle: overTitle,
        contentOverflow: content.scrollWidth - content.clientWidth,
        text: content.innerText};
"""

# Installed before any page script runs: collects uncaught errors the console log may miss.
_ERROR_HOOK = """
window.__sitingErrors = [];
window.addEventListener('error', e => window.__sitingErrors.push(String(e.message)));
"""


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = os.environ.get("SITING_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def chrome(tmp_path_factory):
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')"
    )
    for path, pkg in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (Path(path).exists() or shutil.which(path)):
            pytest.skip(f"{path} is absent: install Debian's {pkg} (apt-get install {pkg})")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        # No network at all: every host name fails to resolve, and no proxy is used.
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--no-proxy-server",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    except Exception as exc:  # a broken install: say why instead of erroring every test
        pytest.skip(f"headless Chromium did not start ({type(exc).__name__}: {exc})")
    # The browser's own network switched off too, for every request the page might make.
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": True, "latency": 0, "downloadThroughput": 0, "uploadThroughput": 0},
    )
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": _ERROR_HOOK})
    yield driver
    driver.quit()


def _open(chrome, path: Path, size: str) -> None:
    """Load `path` at a desktop or (mobile, touch) phone viewport and wait for the map."""
    from selenium.webdriver.support.ui import WebDriverWait

    width, height, mobile = SIZES[size]
    chrome.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
    )
    chrome.get_log("browser")  # drop messages of earlier pages
    chrome.get(path.as_uri())
    WebDriverWait(chrome, 30).until(
        lambda d: d.execute_script(
            "return !!(window.L && document.querySelector('.leaflet-map-pane')"
            " && document.querySelector('.leaflet-marker-icon'))"
        )
    )
    time.sleep(0.3)  # the fit-around-controls and marker layout run after the first draw


def _open_every_popup(chrome, shots: Path, name: str) -> list[dict]:
    """Click each site marker; the popup of each, measured."""
    popups = []
    n = chrome.execute_script(_MARKERS_JS, SITES_LAYER)
    for i in range(n):
        icon = chrome.execute_script(_CENTRE_JS, SITES_LAYER, i)
        icon.click()  # a real click: fails if a control or another marker is on top
        time.sleep(0.45)  # the popup's auto-pan animation
        popup = chrome.execute_script(_POPUP_JS)
        assert popup is not None, f"marker {i} opened no popup"
        popups.append(popup)
        if i == n - 1:
            chrome.save_screenshot(str(shots / f"{name}_popup.png"))
    return popups


@pytest.fixture(scope="module")
def demo_map(demo_results, tmp_path_factory) -> Path:
    return demo_results.to_files(tmp_path_factory.mktemp("offline-map"), self_contained=True)["map"]


@pytest.fixture(scope="module", params=list(SIZES))
def demo_page(request, chrome, demo_map, shots):
    size = request.param
    _open(chrome, demo_map, size)
    state = chrome.execute_script(_STATE_JS, SITES_LAYER)
    chrome.save_screenshot(str(shots / f"demo_{size}.png"))
    popups = _open_every_popup(chrome, shots, f"demo_{size}")
    logs = chrome.get_log("browser")
    return size, state, popups, logs


def test_leaflet_loads_from_the_file_alone(demo_page):
    _, state, _, logs = demo_page
    assert state["maps"] == 1
    assert state["remote"] == [], "the offline map requested network resources"
    assert state["tiles"] == 0
    assert [e["message"] for e in logs if e["level"] == "SEVERE"] == []
    assert state["errors"] == []


def test_one_numbered_marker_per_site_none_hidden(demo_page, demo_results):
    size, state, _, _ = demo_page
    sites = demo_results.sites
    assert state["sites"] == len(state["numbered"]) == len(sites) == 9
    assert sorted(state["numbered"], key=int) == [str(int(r)) for r in sorted(sites["rank"])]
    # the demo's one site far outside the extract (Vuosaari harbour) is off the first view
    assert state["sitesInView"] == len(sites) - 1
    assert "1 site far outside the study area is off this view" in state["title"] or (
        size == "phone"  # inside the closed "About this map" there
    )
    # no marker under a control, the title box or another marker (spread apart)
    assert state["sitesCovered"] == 0


def test_view_is_framed_tightly_on_the_study_area(demo_page):
    size, state, _, _ = demo_page
    assert max(state["spanX"], state["spanY"]) > (0.6 if size == "desktop" else 0.5), state


def test_routes_drawn(demo_page, demo_results):
    _, state, _, _ = demo_page
    assert 0 < state["routes"] == state["routesDrawn"] <= demo_results.study.top_n_routes


def test_every_popup_fits_the_screen_with_its_top_visible(demo_page):
    size, _, popups, _ = demo_page
    assert len(popups) == 9
    for p in popups:
        assert p["left"] >= 0 and p["right"] <= p["innerWidth"], (size, p)
        assert p["top"] >= 0 and not p["overTitle"], (size, p)
        assert p["topVisible"], (size, p["text"][:60])  # no control over its top either
        assert p["contentOverflow"] <= 0, (size, p)  # no sideways scrolling inside
    if size == "phone":
        assert max(p["right"] - p["left"] for p in popups) <= 390
    # the best site's popup names it and explains its rank
    best = [p for p in popups if p["text"].startswith("#1 ")]
    assert best and "Why this rank: Ranked first of 8 feasible sites" in best[0]["text"]


def test_layer_list_collapsed_on_a_phone_open_on_a_desktop(demo_page):
    size, state, _, _ = demo_page
    assert state["layersExpanded"] == (size == "desktop")
    assert state["legendOpen"] == state["aboutOpen"] == (size == "desktop")
    assert state["page"]["scrollWidth"] <= state["page"]["innerWidth"]


def test_no_control_covers_another(demo_page):
    """The title box, layer list, legend, scale, measure tool and attribution: apart."""
    size, state, _, _ = demo_page
    t = state["titleRect"]
    assert t["right"] <= SIZES[size][0]
    controls = state["controls"]
    assert any("siting-title" in c["cls"] for c in controls)
    for i, a in enumerate(controls):
        for b in controls[i + 1 :]:
            overlap = not (
                a["right"] <= b["left"]
                or a["left"] >= b["right"]
                or a["bottom"] <= b["top"]
                or a["top"] >= b["bottom"]
            )
            assert not overlap, (size, a["cls"], b["cls"])


def test_a_legend_per_layer_each_in_its_own_colours(demo_page, demo_results):
    _, state, _, _ = demo_page
    legend = {s["layer"]: s for s in state["legend"]}
    assert set(legend) >= {SITES_LAYER, "Heat density", "District-heating network"}
    routes = [name for name in legend if name.startswith("Routes")]
    assert len(routes) == 1
    titles = {s["title"] for s in state["legend"]}
    assert {RANK_CAPTION, HEAT_CAPTION, DN_LEGEND_TITLE, NETWORK_CAPTION} <= titles
    colours = [set(s["colors"]) for s in state["legend"]]
    for i, a in enumerate(colours):
        for b in colours[i + 1 :]:
            assert not a & b, state["legend"]
    # integer ranks under the ramp, heat classes as rows with their ranges
    assert "1.0" not in legend[SITES_LAYER]["text"]
    heat_rows = legend["Heat density"]["rows"]
    assert heat_rows[0].startswith("< ") and heat_rows[-1].startswith("≥ ")


def test_streets_legend_follows_its_layer(chrome, demo_map, demo_results):
    if demo_results.street_density is None:
        pytest.skip("the demo computed no streets worth a pipe")
    _open(chrome, demo_map, "desktop")
    toggle = """
    const ctrl = Object.keys(window).find(k => k.startsWith('layer_control_')
                                              && k.endsWith('_layers'));
    const map = Object.values(window).find(v => v instanceof L.Map);
    const name = Object.keys(window[ctrl].overlays).find(k => k.startsWith('Streets'));
    const s = [...document.querySelectorAll('.siting-legend-section')]
        .find(x => x.dataset.layer === name);
    const before = s.hidden;
    map.addLayer(window[ctrl].overlays[name]);
    return [before, s.hidden, s.dataset.colors];
    """
    before, after, colours = chrome.execute_script(toggle)
    assert before is True and after is False and colours


def test_title_and_attribution_say_offline_and_osm(chrome, demo_map):
    _open(chrome, demo_map, "desktop")
    state = chrome.execute_script(_STATE_JS, SITES_LAYER)
    assert OFFLINE_NOTE in state["title"]
    assert OSM_ATTRIBUTION in state["title"]
    assert OSM_ATTRIBUTION in state["attribution"]


def test_monthly_chart_in_the_best_popup(chrome, demo_map):
    _open(chrome, demo_map, "phone")
    n = chrome.execute_script(_MARKERS_JS, SITES_LAYER)
    chrome.execute_script(_CENTRE_JS, SITES_LAYER, n - 1).click()  # drawn last = the best
    time.sleep(0.45)
    bars = chrome.execute_script(
        "return document.querySelectorAll('.leaflet-popup-content .siting-monthly rect').length"
    )
    assert bars == 24
    assert chrome.execute_script(_POPUP_JS)["contentOverflow"] <= 0


# --------------------------------------------------------------------------- named sites


@pytest.fixture(scope="module")
def odense(tmp_path_factory):
    """The Odense extract: generated sites named from OSM address points, all given the
    same flat IT load (site_it_density_mw_per_ha 0) so the map says what ranks them."""
    from conftest import shared_file

    import siting

    study = siting.Study(
        osm_path=shared_file("osm", "odense_se_2025.osm.pbf"), site_it_density_mw_per_ha=0.0
    )
    results = siting.run(study)
    files = results.to_files(tmp_path_factory.mktemp("odense"), self_contained=True)
    return results, files["map"]


def test_named_sites_in_the_popups(chrome, odense, shots):
    results, path = odense
    _open(chrome, path, "phone")
    state = chrome.execute_script(_STATE_JS, SITES_LAYER)
    chrome.save_screenshot(str(shots / "odense_phone.png"))
    assert state["title"].startswith("siting: Odense se 2025")  # named after its file
    assert "ranking is by connection cost" in state["title"]  # all 5 MW air-coil here
    popups = _open_every_popup(chrome, shots, "odense_phone")
    assert len(popups) == len(results.sites)
    for p in popups:
        assert "osm-way-" not in p["text"].splitlines()[0]  # a name, not an id, heads it
        assert "on OpenStreetMap" in p["text"] and "° N, " in p["text"]
        assert p["left"] >= 0 and p["right"] <= p["innerWidth"] and p["topVisible"]
    texts = "\n".join(p["text"] for p in popups)
    for address in results.sites["address"]:
        assert address and address in texts
    assert "COP 4.7 vs 4.7" not in texts


# --------------------------------------------------------------------------- report


@pytest.fixture(scope="module")
def report_page(demo_results, helsinki_osm, tmp_path_factory):
    from siting import report

    return report.build_report(demo_results, tmp_path_factory.mktemp("report"), osm=helsinki_osm)


@pytest.mark.parametrize("size", list(SIZES))
def test_report_reads_on_a_phone_and_a_desktop(chrome, report_page, shots, size):
    width, height, mobile = SIZES[size]
    chrome.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
    )
    chrome.get(report_page.as_uri())
    state = chrome.execute_script(
        """
        const num = [...document.querySelectorAll('table.sites td.num')];
        const img = document.querySelector('figure.locator img');
        return {
          scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
          numbersRight: num.length > 0 && num.every(
              td => getComputedStyle(td).textAlign === 'right'),
          textLeft: getComputedStyle(document.querySelector('table.sites td.site')).textAlign,
          locator: img ? [img.naturalWidth, img.getBoundingClientRect().width] : null,
          glossary: [...document.querySelectorAll('dl.glossary dt')].map(d => d.textContent),
          scripts: document.scripts.length,
        };
        """
    )
    chrome.save_screenshot(str(shots / f"report_{size}.png"))
    assert state["scrollWidth"] <= state["innerWidth"], state  # no sideways scrolling
    assert state["numbersRight"] and state["textLeft"] in ("left", "start")
    natural, shown = state["locator"]
    assert natural > 500 and 0 < shown <= width
    assert {"LCOH", "COP", "DN", "ERF", "EnEfG"} <= set(state["glossary"])
    assert state["scripts"] == 0
    assert [e for e in chrome.get_log("browser") if e["level"] == "SEVERE"] == []
