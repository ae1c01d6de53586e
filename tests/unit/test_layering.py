"""The package's layering (shared/DESIGN.md, "Layout") and the absence of import cycles.

Every ``import`` of every module under ``twin/`` is read with ``ast``, function-level
imports included (a lazy import is still a dependency). Two rules:

1. A module imports only its own package or a package of a LOWER layer.
2. No import cycle between modules.

The order, read from DESIGN.md and checked against what the code really does
(top imports bottom, never the reverse):

    cli > pipeline > sample > report > compare > export > render > suggest, inventory > tiles > ops > catalog > layers > io > models > errors

DESIGN.md lists ``cli, pipeline, compare, export, ops, io, catalog, models, errors``. The code
differs in one place on purpose: the catalog ingests scans through the io registry
(``twin.catalog.ingest`` -> ``twin.io.registry``), so io sits BELOW catalog, and io must not
reach up into the catalog (atomic writing lives in ``twin.io.atomic``; ``twin.catalog.store``
re-exports it). Packages DESIGN.md does not name: ``report`` (the HTML report, built from
comparisons, models and renders; called by ``pipeline.demo``) sits below pipeline and above
compare; ``render`` (pure raster drawing) below export; ``sample`` (the synthetic pavilion
generator, called by the CLI and the demo pipeline) just below pipeline; ``layers`` (parsing
layer YAML into models) between catalog and io; ``tiles`` (DESIGN.md's tile store, "its own
room": layout, halo reads, work per tile) above ops and catalog, whose steps and models it
runs per tile, and below everything that will schedule or export tiles; ``suggest`` (the
workspace's side of ``twin layers suggest``: a model's cloud through ``ops.suggest`` into a
draft layer file) above the catalog, ops and layers it joins; ``inventory`` (reading an
inventory file into catalog records, and the status derived from the catalog) beside it. ``twin/__init__.py`` (the version),
``twin/errors.py``, ``twin/_deps.py`` and ``twin/_versions.py`` form the floor.
"""

from __future__ import annotations

import ast
from pathlib import Path

import twin

ROOT = Path(twin.__file__).resolve().parent

LAYERS: list[set[str]] = [
    {"cli"},
    {"pipeline"},
    {"sample"},
    {"report"},
    {"compare"},
    {"export"},
    {"render"},
    {"suggest", "inventory"},
    {"tiles"},
    {"ops"},
    {"catalog"},
    {"layers"},
    {"io"},
    {"models"},
    {"errors", "_deps", "_versions", "(twin)"},
]
RANK = {pkg: i for i, group in enumerate(LAYERS) for pkg in group}

# Upward imports known to the lead, each with why it is still here and what removes it.
# test_waivers_are_still_needed fails once one is fixed, so the list only shrinks.
WAIVED: dict[tuple[str, str], str] = {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The twin modules ``name`` imports, anywhere in its body."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "twin")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] != "twin":
                continue
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                found.add(sub if sub in known else module)  # `from twin.catalog import db` -> twin.catalog.db
    return {m for m in found if m in known and m != name}


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {name: _imports(name, path, known) for name, path in mods.items()}


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "(twin)"


def test_every_package_has_a_layer():
    packages = {_package(m) for m in _modules()}
    assert packages - set(RANK) == set(), "place the new package in LAYERS (and in DESIGN.md)"


def test_no_module_imports_a_layer_above_it():
    upward = []
    for module, imports in _graph().items():
        for target in imports:
            a, b = _package(module), _package(target)
            if a != b and RANK[b] <= RANK[a] and (module, target) not in WAIVED:
                upward.append(f"{module} ({a}) imports {target} ({b})")
    assert upward == [], "imports against the layering:\n" + "\n".join(sorted(upward))


def test_waivers_are_still_needed():
    graph = _graph()
    fixed = [f"{a} -> {b}" for (a, b) in WAIVED if b not in graph.get(a, set())]
    assert fixed == [], f"these upward imports are gone: remove them from WAIVED: {fixed}"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_no_import_cycles():
    assert _cycles(_graph()) == []


def test_cycle_finder_finds_a_function_level_cycle(tmp_path: Path):
    """The checker itself: a function-level import closing a loop is a cycle."""
    a = tmp_path / "a.py"
    a.write_text("def f():\n    from twin.b import g\n")
    graph = {"twin.a": {"twin.b"}, "twin.b": {"twin.c"}, "twin.c": {"twin.a"}, "twin.d": {"twin.a"}}
    assert _cycles(graph) == [["twin.a", "twin.b", "twin.c"]]
    assert _imports("twin.a", a, {"twin.a", "twin.b"}) == {"twin.b"}


def test_the_old_circles_are_gone():
    graph = _graph()
    assert "twin.catalog.layers" not in graph["twin.catalog.db"]
    assert not any(_package(t) == "catalog" for m, ts in graph.items() if _package(m) == "io" for t in ts)
    assert not any(_package(t) == "pipeline" for m, ts in graph.items() if _package(m) == "report" for t in ts)

