"""The package's shape: no import circles, stages behind one runner, one job per file."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "siting"
# the CLI imports the study lazily so that `siting --help` starts without the geo stack
# (the package's exports load on first access through importlib, no import statement)
LAZY_ALLOWED = {"siting.cli"}
# Function-local imports other modules may make: the map layer (folium and its kin, ~0.15 s)
# loads where a map is drawn, so the CLI, which draws it in a second process
# (siting.mapchild), never loads it in the first. The circle check counts them all the same.
LAZY_EDGES = {
    ("siting.results", "siting.maps"),
    ("siting.results", "siting.figures"),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _targets(node: ast.AST, here: str) -> list[str]:
    """The siting modules an import statement loads (a `from pkg import sub` loads sub)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "siting"]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        base = here.split(".")
        if not MODULES[here].name == "__init__.py":
            base = base[:-1]
        base = base[: len(base) - node.level + 1]
        mod = ".".join([*base, node.module] if node.module else base)
    else:
        mod = node.module or ""
    if mod.split(".")[0] != "siting":
        return []
    out = [mod]
    out += [f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in MODULES]
    return [m for m in out if m in MODULES]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _top_level_imports(tree: ast.Module) -> list[ast.AST]:
    """Imports that run when the module is imported (module body, try/if, not TYPE_CHECKING)."""
    out: list[ast.AST] = []
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            out.append(node)
        elif isinstance(node, ast.If) and not _is_type_checking(node):
            stack += node.body + node.orelse
        elif isinstance(node, ast.Try):
            stack += node.body + node.orelse + node.finalbody
            for h in node.handlers:
                stack += h.body
    return out


def _graph() -> dict[str, set[str]]:
    graph = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        deps = set()
        for node in _top_level_imports(tree):
            deps.update(t for t in _targets(node, name) if t != name)
        deps.update(target for source, target in LAZY_EDGES if source == name)
        # importing a.b.c runs a and a.b first: not an edge this module chose
        graph[name] = {d for d in deps if not name.startswith(d + ".")}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        path.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return path[path.index(m) :] + [m]
            if m not in state and (found := visit(m)):
                return found
        path.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_no_import_circles():
    cycle = _cycle(_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_planted_circle():
    # the check above is only worth something if it can fail
    graph = _graph()
    graph["siting.errors"] = graph["siting.errors"] | {"siting.study"}
    cycle = _cycle(graph)
    assert cycle is not None and "siting.errors" in cycle and "siting.study" in cycle


def test_siting_modules_are_imported_at_the_top():
    """Function-local imports of siting modules hide circles; only the CLI may use them."""
    lazy = []
    for name, path in MODULES.items():
        if name in LAZY_ALLOWED:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = {id(n) for n in _top_level_imports(tree)}
        for block in ast.walk(tree):  # TYPE_CHECKING imports never run
            if isinstance(block, ast.If) and _is_type_checking(block):
                top |= {id(n) for n in ast.walk(block)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in top:
                targets = [t for t in _targets(node, name) if (name, t) not in LAZY_EDGES]
                if targets and not (
                    isinstance(node, ast.ImportFrom) and node.module == "__future__"
                ):
                    lazy.append(f"{name}:{node.lineno}")
    assert not lazy, f"function-local siting imports: {lazy}"


def test_every_module_says_its_job_first():
    missing = [
        name
        for name, path in MODULES.items()
        if not ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert not missing, f"modules without a first docstring: {missing}"


@pytest.mark.parametrize("package", ["maps", "routing", "stages"])
def test_split_packages_keep_files_small(package):
    sizes = {
        p.name: len(p.read_text(encoding="utf-8").splitlines())
        for p in (ROOT / package).glob("*.py")
    }
    assert len(sizes) >= 4
    assert max(sizes.values()) <= 500, sizes


def test_run_is_a_short_composition_of_the_stages():
    import siting.pipeline as pipeline

    src = Path(pipeline.__file__).read_text(encoding="utf-8")
    fn = next(
        n for n in ast.parse(src).body if isinstance(n, ast.FunctionDef) and n.name == "run_single"
    )
    assert fn.end_lineno - fn.lineno < 70  # a screenful
    called = {
        node.args[0].value
        for node in ast.walk(fn)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "r"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }
    assert called == set(pipeline.STAGES)


# modules that sat on v1's circles (study <-> tiles <-> figures): each must load first
ENTRY_POINTS = [
    "siting.tiles",
    "siting.figures",
    "siting.sweep",
    "siting.report",
    "siting.results",
    "siting.stages",
    "siting.pipeline",
    "siting.maps",
]


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_module_imports_alone(name):
    """Imported first in a fresh interpreter, the module loads (a circle would break it)."""
    code = f"import importlib; importlib.import_module({name!r})"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


# --------------------------------------------------------------------------- lazy exports


def _init_tree() -> ast.Module:
    return ast.parse((ROOT / "__init__.py").read_text(encoding="utf-8"))


def test_no_export_shares_a_submodule_name():
    """Importing siting.x sets the package attribute x to the module: an export named x
    (a function) would be replaced by it. This is why compare, sensitivity and portfolio
    live in comparison.py, sweep.py and portfolios.py.
    """
    import siting

    submodules = {name.split(".")[1] for name in MODULES if name.count(".") >= 1}
    assert set(siting.__all__) & submodules == set()
    assert "sweep" in submodules and "sensitivity" not in submodules  # the check sees modules


def test_exports_type_checking_block_and_table_agree():
    """__all__, the lazy table and the TYPE_CHECKING imports name the same things."""
    import siting

    typed = {}
    for node in ast.walk(_init_tree()):
        if isinstance(node, ast.If) and _is_type_checking(node):
            for imp in node.body:
                typed.update({a.name: imp.module for a in imp.names})
    assert typed == siting._EXPORTS
    assert set(siting.__all__) == set(siting._EXPORTS) | {"__version__"}


def test_exports_are_the_functions_after_every_submodule_is_imported():
    """In a fresh interpreter: import siting.report (which imports siting.sweep), then every
    other submodule; each export is still the object its module defines, never a module.
    """
    code = """
import importlib, pkgutil, types
import siting
import siting.report
for info in pkgutil.walk_packages(siting.__path__, "siting."):
    importlib.import_module(info.name)
import siting.comparison, siting.portfolios, siting.sweep
assert siting.compare is siting.comparison.compare
assert siting.compare_plot is siting.comparison.compare_plot
assert siting.sensitivity is siting.sweep.sensitivity
assert siting.portfolio is siting.portfolios.portfolio
for name in siting.__all__:
    value = getattr(siting, name)
    assert not isinstance(value, types.ModuleType), name
    if name != "__version__":
        assert value is getattr(importlib.import_module(siting._EXPORTS[name]), name), name
assert set(siting.__all__) <= set(dir(siting))
from siting import Study, sensitivity
assert sensitivity is siting.sweep.sensitivity and Study is siting.config.Study
try:
    siting.no_such_export
except AttributeError as exc:
    assert "no_such_export" in str(exc)
else:
    raise AssertionError("siting.no_such_export did not raise")
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


def test_exports_load_on_first_use_not_on_import():
    code = (
        "import sys, siting\n"
        "before = 'siting.study' in sys.modules or 'pandas' in sys.modules\n"
        "siting.portfolio\n"
        "print(before, 'siting.portfolios' in sys.modules, 'portfolio' in vars(siting))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "True", "True"]  # cached after the first access
