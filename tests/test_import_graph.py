"""The import graph of the package: no cycles anywhere, and each room imports only the floor.

Read from the source with ``ast`` (every ``import`` counts, inside functions too), over the
folders ``pyproject.toml`` maps into the ``landslide4sense`` namespace. The rooms, from the floor
up: the core (``landslide4sense.*`` outside the folders below), ``regions``, the stages
(acquisition, annotation, patching, training), ``flows``. The core imports no stage, no regions
and no flows; a stage imports the core, ``regions`` and itself, never another stage; nothing
below the flows imports the flows or Prefect. A module imports another of the package's modules
inside a function only in the flows (the CLI loads lazily so that ``l4s --help`` starts at once)
or when that module needs an optional extra (a networked client, torch); :data:`DEFERRED` names
the one exception and why.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def modules() -> dict[str, Path]:
    """Every module of the package: dotted name to file."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {}
    for package, folder in config["package-dir"].items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            name = ".".join((package, *parts)).removesuffix(".__init__")
            if name.startswith(tuple(config["package-dir"])) and name not in found:
                found[name] = path
    return found


PACKAGE = "landslide4sense"
STAGES = ("acquisition", "annotation", "patching", "training")
#: The top-level packages each extra installs (pyproject.toml's optional dependencies).
EXTRA_PACKAGES = {
    "ee",
    "google",
    "requests",
    "pystac_client",
    "s2cloudless",
    "asf_search",
    "prefect_dask",
    "dask",
    "torch",
}
#: In-function imports of modules that need no extra (importer, imported), each with its reason.
DEFERRED = {
    # geopandas, needed only to publish: the spawned cutting workers import the patching
    # package (and so assemble) and would each load it for nothing.
    ("landslide4sense.patching.assemble", "landslide4sense.patching.index"),
}


def _named(node: ast.AST, known: set[str]) -> set[str]:
    """What one import statement names: the package's modules it imports (a ``from x import y``
    of a submodule counts as importing ``x.y``), and the top-level names of the others."""
    if isinstance(node, ast.Import):
        names = {a.name for a in node.names}
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        subs = {f"{node.module}.{a.name}" for a in node.names} & known
        names = subs or {node.module}
    else:
        return set()
    return {n if n in known or n.startswith(f"{PACKAGE}.") else n.split(".")[0] for n in names}


def imports(path: Path, known: set[str]) -> tuple[set[str], set[str]]:
    """What ``path`` imports at module level, and what it imports inside functions."""
    top, inner = set(), set()

    def visit(node: ast.AST, in_function: bool) -> None:
        (inner if in_function else top).update(_named(node, known))
        is_function = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            visit(child, in_function or is_function)

    visit(ast.parse(path.read_text()), False)
    return top, inner


def extra_clients() -> set[str]:
    """The package's modules that load an optional extra through ``require_extra``."""
    out = set()
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            f = node.func if isinstance(node, ast.Call) else None
            if "require_extra" in (getattr(f, "id", None), getattr(f, "attr", None)):
                out.add(name)
    return out


def all_imports() -> dict[str, tuple[set[str], set[str]]]:
    """Each module's imports: (at module level, inside functions), itself left out."""
    mods = modules()
    out = {}
    for name, path in mods.items():
        top, inner = imports(path, set(mods))
        out[name] = (top - {name}, inner - {name})
    return out


def graph() -> dict[str, set[str]]:
    """The package's modules each module imports, anywhere in it."""
    return {
        name: {d for d in top | inner if d.startswith(PACKAGE)}
        for name, (top, inner) in all_imports().items()
    }


def room(module: str) -> str:
    """``core``, ``regions``, a stage's name or ``flows``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in (*STAGES, "regions", "flows") else "core"


def needs_extra(found: dict[str, tuple[set[str], set[str]]], clients: set[str]) -> set[str]:
    """The package's modules that need an optional extra: those importing one of its packages
    at module level, the ``clients`` that load one through ``require_extra``, and those
    importing any of these at module level."""
    needy = {m for m, (top, _) in found.items() if top & EXTRA_PACKAGES} | clients
    while True:
        more = {m for m, (top, _) in found.items() if top & needy} - needy
        if not more:
            return needy
        needy |= more


def broken_rules(found: dict[str, tuple[set[str], set[str]]], clients: set[str]) -> list[str]:
    """Every import that breaks the floor's rules, as ``importer -> imported: rule``."""
    allowed = {
        "core": {"core"},
        "regions": {"core", "regions"},
        **{stage: {"core", "regions", stage} for stage in STAGES},
        "flows": {"core", "regions", *STAGES, "flows"},
    }
    needy = needs_extra(found, clients)
    out = []
    for name, (top, inner) in sorted(found.items()):
        here = room(name)
        for dep in sorted(top | inner):
            ours = dep.startswith(f"{PACKAGE}.")
            if ours and room(dep) not in allowed[here]:
                out.append(f"{name} -> {dep}: {here} must not import {room(dep)}")
            if here != "flows" and (dep.startswith("prefect") or (ours and room(dep) == "flows")):
                out.append(f"{name} -> {dep}: below the flows, no Prefect and no flows")
        for dep in sorted(inner - top):
            if not deferred_allowed(name, dep, here, needy):
                out.append(f"{name} -> {dep}: imported inside a function without needing an extra")
    return out


def deferred_allowed(name: str, dep: str, here: str, needy: set[str]) -> bool:
    """Whether importing ``dep`` inside a function of ``name`` is allowed."""
    if not dep.startswith(f"{PACKAGE}.") or here == "flows":
        return True  # third-party imports are the modules' own business
    return dep in needy or (name, dep) in DEFERRED


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_known_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_rule_checker_finds_known_breaks():
    core, geo = "landslide4sense.records", "landslide4sense.geo"
    stage, other = "landslide4sense.annotation.candidates", "landslide4sense.training.predict"
    found = {
        core: ({geo, "landslide4sense.regions.schema"}, set()),  # core -> regions
        geo: (set(), {"landslide4sense.acquisition.local"}),  # core -> a stage, in a function
        "landslide4sense.regions.schema": ({core}, set()),
        stage: ({geo, "landslide4sense.regions"}, {other}),  # stage -> stage, in a function
        other: ({"torch", geo}, set()),  # needs the train extra
        "landslide4sense.acquisition.local": ({"prefect"}, {"landslide4sense.flows.cli"}),
        "landslide4sense.acquisition.check": (set(), {other}),  # deferred: needs an extra
        "landslide4sense.acquisition.dem": (set(), {"landslide4sense.acquisition.local"}),
        "landslide4sense.flows.cli": (set(), {stage, "prefect"}),  # the flows may do all this
    }
    assert needs_extra(found, set()) == {other}
    assert needs_extra(found, {"landslide4sense.acquisition.local"}) == {
        other,
        "landslide4sense.acquisition.local",
    }
    assert broken_rules(found, set()) == [
        "landslide4sense.acquisition.check -> landslide4sense.training.predict: "
        "acquisition must not import training",
        "landslide4sense.acquisition.dem -> landslide4sense.acquisition.local: "
        "imported inside a function without needing an extra",
        "landslide4sense.acquisition.local -> landslide4sense.flows.cli: "
        "acquisition must not import flows",
        "landslide4sense.acquisition.local -> landslide4sense.flows.cli: "
        "below the flows, no Prefect and no flows",
        "landslide4sense.acquisition.local -> prefect: below the flows, no Prefect and no flows",
        "landslide4sense.acquisition.local -> landslide4sense.flows.cli: "
        "imported inside a function without needing an extra",
        "landslide4sense.annotation.candidates -> landslide4sense.training.predict: "
        "annotation must not import training",
        "landslide4sense.geo -> landslide4sense.acquisition.local: core must not import "
        "acquisition",
        "landslide4sense.geo -> landslide4sense.acquisition.local: "
        "imported inside a function without needing an extra",
        "landslide4sense.records -> landslide4sense.regions.schema: core must not import regions",
    ]


def test_the_import_reader_sees_imports_inside_functions(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(
        "import numpy.linalg\nfrom landslide4sense.geo import grid, Grid\n"
        "from . import sibling\n"
        "def f():\n    import torch\n    from landslide4sense.records import Record\n"
        "class C:\n    def g(self):\n        import landslide4sense.layout\n"
    )
    known = {"landslide4sense.geo", "landslide4sense.geo.grid", "landslide4sense.records"}
    assert imports(path, known) == (
        {"numpy", "landslide4sense.geo.grid"},
        {"torch", "landslide4sense.records", "landslide4sense.layout"},
    )


def test_each_room_imports_only_the_floor():
    found, clients = all_imports(), extra_clients()
    needy = needs_extra(found, clients)
    assert {"landslide4sense.training.models", "landslide4sense.acquisition.stac"} <= needy
    assert "landslide4sense.geo.reader" not in needy
    assert broken_rules(found, clients) == []


def test_no_import_cycles():
    g = graph()
    assert "landslide4sense.acquisition.earthengine" in g and len(g) > 30
    assert cycles(g) == []


def test_sources_only_fetch():
    g = graph()
    acq = "landslide4sense.acquisition"
    # STAC does not borrow Earth Engine's module (grid helpers live in acquisition.base).
    assert f"{acq}.earthengine" not in g[f"{acq}.stac"]
    # Sentinel-2 sources neither fetch the DEM nor look for labels: the flow composes them.
    for source in ("earthengine", "stac", "cdse", "local"):
        assert f"{acq}.dem" not in g[f"{acq}.{source}"], source
        assert f"{acq}.asf" not in g[f"{acq}.{source}"], source
