"""The import graph of the package: no cycles anywhere, and stages import only what they own.

Read from the source with ``ast`` (every ``import`` counts, inside functions too), over the
folders ``pyproject.toml`` maps into the ``landslide4sense`` namespace.
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


def imports(path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``path`` imports (a ``from x import y`` of a submodule
    counts as importing ``x.y``)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.ImportFrom) and node.module in known:
            subs = {f"{node.module}.{a.name}" for a in node.names} & known
            out |= subs or {node.module}
    return out


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports(path, set(mods)) - {name} for name, path in mods.items()}


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
    # Nothing below the flows imports Prefect or the flows.
    for name, deps in g.items():
        if not name.startswith("landslide4sense.flows"):
            assert not any(d.startswith("landslide4sense.flows") for d in deps), name
