"""Vendored JavaScript/CSS for self-contained (offline) maps.

A folium map normally loads Leaflet, jQuery, d3 (branca legends) and the measure plugin from
CDNs, so it is blank without a network. `inline_page` rewrites a rendered map page so every
script and stylesheet it needs is inlined from the copies in ``siting/data/assets/``, and
drops folium defaults the study map never uses (Bootstrap, Font Awesome, glyphicons,
Awesome Markers). Nothing is downloaded at run or test time.

The copies were fetched once from the npm registry with `fetch_assets` (maintainers only:
``python -m siting.assets --fetch``); ``manifest.json`` records package, version, licence,
tarball URL, npm integrity and the SHA-256 of every file, and ``LICENSES`` holds the licence
texts. `verify_assets` checks the files against the manifest.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import tarfile
import urllib.request
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from siting.errors import ConfigError

__all__ = ["ASSET_DIR", "PACKAGES", "fetch_assets", "inline_page", "verify_assets"]

ASSET_DIR = Path(__file__).resolve().parent / "data" / "assets"
MANIFEST = ASSET_DIR / "manifest.json"
LICENSES = ASSET_DIR / "LICENSES"
NPM_REGISTRY = "https://registry.npmjs.org"


@dataclass(frozen=True)
class Package:
    """One npm package and the files of it the maps use (paths inside the tarball's package/)."""

    name: str
    version: str
    license: str
    license_file: str
    files: tuple[str, ...]

    @property
    def folder(self) -> Path:
        return ASSET_DIR / f"{self.name}-{self.version}"

    @property
    def tarball(self) -> str:
        return f"{NPM_REGISTRY}/{self.name}/-/{self.name}-{self.version}.tgz"


# Versions are the ones folium 0.20 / branca 0.8 link from CDNs.
PACKAGES = (
    Package(
        "leaflet",
        "1.9.3",
        "BSD-2-Clause",
        "LICENSE",
        (
            "dist/leaflet.js",
            "dist/leaflet.css",
            "dist/images/layers.png",
            "dist/images/layers-2x.png",
            "dist/images/marker-icon.png",
        ),
    ),
    # folium's Popup builds its content with `$(html)[0]`, and LayerControl's
    # objects-in-front uses $(document).ready: jQuery is needed, Bootstrap is not.
    Package("jquery", "3.7.1", "MIT", "LICENSE.txt", ("dist/jquery.min.js",)),
    # branca's colormap legends are drawn with d3 v3 (d3.scale.threshold, d3.svg.axis).
    Package("d3", "3.5.5", "BSD-3-Clause", "LICENSE", ("d3.min.js",)),
    Package(
        "leaflet-measure",
        "2.1.7",
        "MIT",
        "LICENSE",
        (
            "dist/leaflet-measure.min.js",
            "dist/leaflet-measure.css",
            *(
                f"dist/images/{icon}{scale}.png"
                for icon in ("cancel", "check", "focus", "rulers", "start", "trash")
                for scale in ("", "_@2X")
            ),
        ),
    ),
)
_BY_NAME = {p.name: p for p in PACKAGES}

# URL (as folium/branca write it) -> (package, file). Matched on the path, so a CDN or
# patch-version change in folium still finds the vendored copy.
_JS_RULES = (
    (re.compile(r"/leaflet(@[\d.]+)?/dist/leaflet(-src)?\.js$"), "leaflet", "dist/leaflet.js"),
    (re.compile(r"/jquery-3\.[\d.]+(\.min)?\.js$"), "jquery", "dist/jquery.min.js"),
    (re.compile(r"/d3/3\.[\d.]+/d3(\.min)?\.js$"), "d3", "d3.min.js"),
    (
        re.compile(r"/leaflet-measure@[\d.]+/dist/leaflet-measure(\.min)?\.js$"),
        "leaflet-measure",
        "dist/leaflet-measure.min.js",
    ),
)
_CSS_RULES = (
    (re.compile(r"/leaflet(@[\d.]+)?/dist/leaflet\.css$"), "leaflet", "dist/leaflet.css"),
    (
        re.compile(r"/leaflet-measure@[\d.]+/dist/leaflet-measure(\.min)?\.css$"),
        "leaflet-measure",
        "dist/leaflet-measure.css",
    ),
)
# folium defaults the study map does not use (no folium.Icon / Bootstrap widgets).
_DROPPED = re.compile(r"bootstrap|awesome-markers|awesome\.rotate|fontawesome", re.IGNORECASE)
# Script text that would need a dropped asset.
_NEEDS_DROPPED = ("L.AwesomeMarkers",)

_SCRIPT_TAG = re.compile(r'<script\b[^>]*?\bsrc="([^"]*)"[^>]*>\s*</script>', re.IGNORECASE)
_LINK_TAG = re.compile(r"<link\b[^>]*?\bhref=\"([^\"]*)\"[^>]*?/?>", re.IGNORECASE)
_CSS_URL = re.compile(r"url\((['\"]?)(images/[^)'\"]+)\1\)")
_VERSION_IN_URL = re.compile(r"[@/-](\d+\.\d+\.\d+)")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@cache
def _read(package: str, relpath: str) -> bytes:
    path = _BY_NAME[package].folder / relpath
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(
            f"the vendored map asset {path} is missing; reinstall siting (the files ship in "
            "siting/data/assets) or map without self_contained/--offline."
        ) from exc


def _css(package: str, relpath: str) -> str:
    """The stylesheet with its url(images/...) references turned into data: URIs."""
    text = _read(package, relpath).decode("utf-8")
    base = relpath.rsplit("/", 1)[0]

    def data_uri(match: re.Match[str]) -> str:
        image = f"{base}/{match.group(2)}"
        if image not in _BY_NAME[package].files:
            raise ConfigError(f"{package} {relpath} references {image}, which is not vendored.")
        b64 = base64.b64encode(_read(package, image)).decode("ascii")
        return f"url(data:image/png;base64,{b64})"

    return _CSS_URL.sub(data_uri, text)


def _match(url: str, rules) -> tuple[str, str] | None:
    for pattern, package, relpath in rules:
        if pattern.search(url):
            version = _VERSION_IN_URL.search(url)
            if version and version.group(1) != _BY_NAME[package].version:
                warnings.warn(
                    f"the map links {url}; the offline map inlines {package} "
                    f"{_BY_NAME[package].version} instead.",
                    stacklevel=4,
                )
            return package, relpath
    return None


def inline_page(page: str) -> str:
    """Return the rendered map `page` with every external script/stylesheet inlined.

    Raises ConfigError if the page links an asset that is not vendored (the map would need
    a network), or uses one that offline maps drop.
    """
    unknown: list[str] = []

    def script(match: re.Match[str]) -> str:
        url = match.group(1)
        if _DROPPED.search(url):
            return ""
        found = _match(url, _JS_RULES)
        if found is None:
            unknown.append(url)
            return match.group(0)
        package, relpath = found
        code = _read(package, relpath).decode("utf-8").replace("</script", "<\\/script")
        p = _BY_NAME[package]
        return f"<script>/* {p.name} {p.version} ({p.license}), inlined */\n{code}\n</script>"

    def link(match: re.Match[str]) -> str:
        url = match.group(1)
        if "stylesheet" not in match.group(0).lower():
            if url.startswith(("http://", "https://", "//")):
                unknown.append(url)
            return match.group(0)
        if _DROPPED.search(url):
            return ""
        found = _match(url, _CSS_RULES)
        if found is None:
            unknown.append(url)
            return match.group(0)
        package, relpath = found
        p = _BY_NAME[package]
        css = _css(package, relpath).replace("</style", "<\\/style")
        return f"<style>/* {p.name} {p.version} ({p.license}), inlined */\n{css}\n</style>"

    out = _SCRIPT_TAG.sub(script, page)
    out = _LINK_TAG.sub(link, out)
    for marker in _NEEDS_DROPPED:
        # Checked in the map's own scripts (the links to the dropped files are gone by now).
        if marker in out:
            raise ConfigError(
                f"the map uses {marker!r} (folium.Icon markers), which offline maps do not "
                "bundle; use CircleMarkers or map without self_contained/--offline."
            )
    if unknown:
        raise ConfigError(
            f"the map links asset(s) that offline maps do not bundle: {unknown}; add them to "
            "siting.assets.PACKAGES or map without self_contained/--offline."
        )
    return out


# --------------------------------------------------------------------------- maintenance


def verify_assets() -> dict[str, str]:
    """Check every vendored file against manifest.json; return {file: sha256}.

    Raises ConfigError on a missing, extra or changed file.
    """
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    checked: dict[str, str] = {}
    listed = {(e["name"], e["version"]): e for e in manifest["packages"]}
    for p in PACKAGES:
        entry = listed.get((p.name, p.version))
        if entry is None:
            raise ConfigError(f"manifest.json lacks {p.name} {p.version}.")
        if set(entry["files"]) != set(p.files):
            raise ConfigError(f"manifest.json files of {p.name} differ from siting.assets.")
        for relpath, digest in entry["files"].items():
            actual = _sha256((p.folder / relpath).read_bytes())
            if actual != digest:
                raise ConfigError(f"{p.folder / relpath} has SHA-256 {actual}, manifest {digest}.")
            checked[f"{p.folder.name}/{relpath}"] = actual
    return checked


def fetch_assets() -> None:
    """Download PACKAGES from the npm registry into ASSET_DIR (maintainers; run once).

    Checks each tarball against the registry's published integrity hash, writes the files,
    manifest.json (versions, licences, SHA-256) and LICENSES.
    """
    entries = []
    licence_texts = []
    for p in PACKAGES:
        with urllib.request.urlopen(f"{NPM_REGISTRY}/{p.name}/{p.version}", timeout=60) as r:
            meta = json.load(r)
        integrity = meta["dist"]["integrity"]
        algo, _, expected = integrity.partition("-")
        with urllib.request.urlopen(p.tarball, timeout=120) as r:
            blob = r.read()
        if base64.b64encode(hashlib.new(algo, blob).digest()).decode() != expected:
            raise ConfigError(f"{p.tarball} does not match its npm integrity {integrity}.")
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
            members = {m.name.removeprefix("package/"): m for m in tar.getmembers() if m.isfile()}

            def member_bytes(relpath: str, tar=tar, members=members) -> bytes:
                fh = tar.extractfile(members[relpath])
                assert fh is not None
                return fh.read()

            files = {}
            for relpath in p.files:
                data = member_bytes(relpath)
                target = p.folder / relpath
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                files[relpath] = _sha256(data)
            licence = member_bytes(p.license_file).decode("utf-8").strip()
        entries.append(
            {
                "name": p.name,
                "version": p.version,
                "license": p.license,
                "tarball": p.tarball,
                "integrity": integrity,
                "files": files,
            }
        )
        licence_texts.append(f"{p.name} {p.version} ({p.license}), from {p.tarball}\n\n{licence}")
    MANIFEST.write_text(
        json.dumps({"source": NPM_REGISTRY, "packages": entries}, indent=2) + "\n",
        encoding="utf-8",
    )
    rule = "\n\n" + "-" * 78 + "\n\n"
    LICENSES.write_text(
        "Third-party files inlined into self-contained siting maps.\n\n"
        + rule.join(licence_texts)
        + "\n",
        encoding="utf-8",
    )


if __name__ == "__main__":  # pragma: no cover
    import sys

    if sys.argv[1:] == ["--fetch"]:
        fetch_assets()
    print(json.dumps(verify_assets(), indent=2))
