"""The self-contained demo map in a real browser: headless Chromium, file://, no network.

Uses Selenium with Debian's chromium + chromium-driver (/usr/bin/chromium,
/usr/bin/chromedriver; override with SITING_CHROMIUM / SITING_CHROMEDRIVER). Skips with a
reason where either is absent. Leaves a screenshot in maps/demo_offline.png (not committed).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from siting.maps import (
    DN_LEGEND_TITLE,
    HEAT_CAPTION,
    OFFLINE_NOTE,
    OSM_ATTRIBUTION,
    RANK_CAPTION,
    SITES_LAYER,
)

REPO = Path(__file__).resolve().parents[1]
SCREENSHOT = REPO / "maps" / "demo_offline.png"
CHROMIUM = os.environ.get("SITING_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SITING_CHROMEDRIVER", "/usr/bin/chromedriver")

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
const inView = (l) => {
  const r = el(l).getBoundingClientRect();
  return r.width > 0 && r.right > box.left && r.left < box.right
      && r.bottom > box.top && r.top < box.bottom;
};
// A marker is hidden if a control or the title box sits on its centre.
const covered = (l) => {
  const r = el(l).getBoundingClientRect();
  const top = document.elementFromPoint((r.left + r.right) / 2, (r.top + r.bottom) / 2);
  return !top || !!top.closest('.leaflet-control-container, .siting-title');
};
const pane = (l) => el(l).getBoundingClientRect();
const viewSites = sites.filter(l => drawn(l) && inView(l)).map(pane);
return {
  maps: maps.length,
  zoom: window[maps[0]].getZoom(),
  overlayNames: Object.keys(overlays),
  sites: sites.length,
  numbered: sites.filter(l => l instanceof L.Marker && l._icon
      && l._icon.querySelector('.siting-rank')).map(l => l._icon.innerText.trim()),
  sitesOnMap: sites.filter(l => !!l._map).length,
  sitesDrawn: sites.filter(drawn).length,
  sitesInView: viewSites.length,
  sitesCovered: sites.filter(l => drawn(l) && inView(l) && covered(l)).length,
  // the share of the map's width and height the visible sites span (the framing)
  spanX: viewSites.length ? (Math.max(...viewSites.map(r => r.right))
      - Math.min(...viewSites.map(r => r.left))) / box.width : 0,
  spanY: viewSites.length ? (Math.max(...viewSites.map(r => r.bottom))
      - Math.min(...viewSites.map(r => r.top))) / box.height : 0,
  routes: routes.length,
  routeLines: routes.filter(l => l instanceof L.Polyline && !(l instanceof L.Polygon)).length,
  routesDrawn: routes.filter(drawn).length,
  legends: [...document.querySelectorAll('.legend.leaflet-control')].map(d => ({
    svgs: d.querySelectorAll('svg').length,
    rects: d.querySelectorAll('rect').length,
    caption: (d.querySelector('.caption') || {}).textContent || '',
    width: d.getBoundingClientRect().width,
  })),
  dnLegend: [...document.querySelectorAll('.siting-dn-legend .siting-dn-row')]
      .map(r => r.innerText.trim()),
  dnLegendTitle: (document.querySelector('.siting-dn-legend') || {}).innerText || '',
  layerControl: !!document.querySelector('.leaflet-control-layers'),
  measure: !!document.querySelector('.leaflet-control-measure'),
  title: (document.querySelector('.siting-title') || {}).innerText || '',
  attribution: (document.querySelector('.leaflet-control-attribution') || {}).innerText || '',
  tiles: document.querySelectorAll('.leaflet-tile').length,
  remote: performance.getEntriesByType('resource').map(e => e.name).filter(n => /^https?:/.test(n)),
  errors: window.__sitingErrors || [],
};
"""

# Installed before any page script runs: collects uncaught errors the console log may miss.
_ERROR_HOOK = """
window.__sitingErrors = [];
window.addEventListener('error', e => window.__sitingErrors.push(String(e.message)));
"""


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
        "--window-size=1400,900",
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


@pytest.fixture(scope="module")
def offline_map(demo_results, tmp_path_factory):
    out = tmp_path_factory.mktemp("offline-map")
    files = demo_results.to_files(out, self_contained=True)
    return files["map"]


@pytest.fixture(scope="module")
def page_state(chrome, offline_map):
    from selenium.webdriver.support.ui import WebDriverWait

    chrome.get(offline_map.as_uri())
    WebDriverWait(chrome, 30).until(
        lambda d: d.execute_script(
            "return !!(window.L && document.querySelector('.leaflet-map-pane')"
            " && document.querySelector('.leaflet-overlay-pane svg path'))"
        )
    )
    state = chrome.execute_script(_STATE_JS, SITES_LAYER)
    logs = chrome.get_log("browser")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    chrome.save_screenshot(str(SCREENSHOT))
    return state, logs


def _expected_routes(results) -> int:
    sites = results.sites
    ok = sites[sites["feasible"].astype(bool)].sort_values("rank")
    top = set(ok["site_id"].astype(str).head(results.study.top_n_routes))
    routes = results.routes
    routes = routes[~(routes.geometry.isna() | routes.geometry.is_empty)]
    return int(routes["site_id"].astype(str).isin(top).sum())


def test_leaflet_loads_from_the_file_alone(page_state):
    state, _ = page_state
    assert state["maps"] == 1
    assert state["remote"] == [], "the offline map requested network resources"
    assert state["tiles"] == 0
    assert state["layerControl"] and state["measure"]


def test_one_numbered_marker_per_site(page_state, demo_results):
    state, _ = page_state
    sites = demo_results.sites
    assert len(sites) == 9
    assert state["sites"] == len(state["numbered"]) == len(sites)
    assert sorted(state["numbered"], key=int) == [str(int(r)) for r in sorted(sites["rank"])]
    assert state["sitesOnMap"] == len(sites)
    # The view frames the study area; the demo's one site far outside the extract (Vuosaari
    # harbour, infeasible) is off it, and the title box says so.
    far = int((sites["reason"].astype(str).str.contains("outside the study area")).sum())
    assert far == 1
    assert state["sitesInView"] == len(sites) - far
    assert "1 site far outside the study area is off this view" in state["title"]
    assert state["sitesCovered"] == 0, "a site marker is hidden under a control or the title"


def test_view_is_framed_tightly_on_the_study_area(page_state):
    state, _ = page_state
    # central Helsinki's sites span ~1.5 km north-south: they should fill most of the height
    assert state["zoom"] >= 14.75, state["zoom"]
    assert max(state["spanX"], state["spanY"]) > 0.6, state


def test_one_route_line_per_routed_top_site(page_state, demo_results):
    state, _ = page_state
    expected = _expected_routes(demo_results)
    n_feasible = int(demo_results.sites["feasible"].sum())
    assert 0 < expected <= min(n_feasible, demo_results.study.top_n_routes)
    assert state["routes"] == state["routeLines"] == expected
    assert state["routesDrawn"] == expected


def test_each_legend_in_its_own_box(page_state):
    state, _ = page_state
    legends = state["legends"]
    assert sorted(lg["caption"] for lg in legends) == sorted([HEAT_CAPTION, RANK_CAPTION])
    for lg in legends:
        assert lg["svgs"] == 1 and lg["rects"] > 1 and lg["width"] > 0, legends


def test_dn_legend_lists_the_route_sizes(page_state, demo_results):
    state, _ = page_state
    sites = demo_results.sites
    top = sites[sites["feasible"].astype(bool)].head(demo_results.study.top_n_routes)
    routed = top[top["site_id"].isin(demo_results.routes["site_id"])]
    expected = [f"DN{int(d)}" for d in sorted(set(routed["pipe_dn"]))]
    assert state["dnLegend"] == expected
    assert DN_LEGEND_TITLE in state["dnLegendTitle"]


def test_title_and_attribution_say_offline_and_osm(page_state):
    state, _ = page_state
    assert OFFLINE_NOTE in state["title"]
    assert OSM_ATTRIBUTION in state["title"]
    assert OSM_ATTRIBUTION in state["attribution"]


def test_no_javascript_errors(page_state):
    state, logs = page_state
    severe = [entry["message"] for entry in logs if entry["level"] == "SEVERE"]
    assert severe == []
    assert state["errors"] == []


def test_popup_opens(chrome, page_state):
    """Popups are built with jQuery: the inlined copy must work."""
    content = chrome.execute_script(
        """
        const ctrl = Object.keys(window).find(k => k.startsWith('layer_control_')
                                                   && k.endsWith('_layers'));
        const layers = window[ctrl].overlays[arguments[0]].getLayers();
        const layer = layers[layers.length - 1];  // drawn last = the best site
        layer.openPopup();
        const el = document.querySelector('.leaflet-popup-content');
        return el ? el.innerText : null;
        """,
        SITES_LAYER,
    )
    assert content and content.startswith("#1 ") and "LCOH" in content, content
    assert "Why this rank: Ranked first" in content, content
    # the monthly chart is drawn in the popup (inline SVG: 24 bars)
    bars = chrome.execute_script(
        "return document.querySelectorAll('.leaflet-popup-content .siting-monthly rect').length"
    )
    assert bars == 24
    chrome.save_screenshot(str(SCREENSHOT.with_name("demo_popup.png")))
    assert [e for e in chrome.get_log("browser") if e["level"] == "SEVERE"] == []


def test_screenshot_saved(page_state):
    assert SCREENSHOT.stat().st_size > 10_000
