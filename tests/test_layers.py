"""The house's layers, read from the code: imports run one way and close no circle.

Every `import` and `from ... import` is read from the source with `ast`, those inside
functions included (a lazy import is still a dependency; frameworks and other third-party
packages are not part of the graph). A module may import its own layer and the layers
below it; an import of a higher layer, or any circle, fails here with the modules named.
`docs/architecture.md` draws the same table.
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

# lowest first; a module belongs to the first entry whose prefix names it
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("core.types", "core.privacy", "core.quiet", "core.errors", "core.labels")),
    ("io", ("core.io",)),
    ("preprocess", ("core.preprocess",)),
    ("datasets", ("core.datasets",)),
    ("evaluation, studies", ("core.evaluation", "core.studies")),
    ("models", ("core.models",)),
    ("serving", ("core.serving",)),
    ("training", ("core.training",)),
    ("reports", ("core.reports",)),
    ("score, dashboard", ("core.score", "core.dashboard")),
    ("cli", ("core.cli", "core.__main__", "core")),
    ("ui", ("ui",)),
    ("pages", ("pages",)),
    ("entry", ("streamlit_app",)),
]
FLAT_IN_CORE_AT_MOST = 8


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    files = [p for top in ("core", "ui", "pages") for p in (REPO / top).rglob("*.py")] + [REPO / "streamlit_app.py"]
    return {module_name(p): p for p in files}


def import_graph() -> dict[str, dict[str, int]]:
    """{module: {imported project module: line}}, function-level imports included. `from P
    import x` names the module P.x when there is one, else P itself."""
    modules = project_modules()

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, dict[str, int]] = {}
    for name, path in modules.items():
        edges = graph.setdefault(name, {})
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            for target in targets:
                found = known(target)
                if found and found != name:
                    edges.setdefault(found, node.lineno)
    return graph


def layer_of(module: str) -> int:
    best = (-1, -1)
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                best = max(best, (len(prefix), rank))
    assert best[1] >= 0, f"{module} is in no layer: add it to LAYERS and docs/architecture.md"
    return best[1]


def circles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph.get(child, {}))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
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


def test_no_import_circle():
    assert circles(import_graph()) == []


def test_imports_run_down_the_layers():
    graph = import_graph()
    upward = [f"{m}:{line} imports {t} ({LAYERS[layer_of(t)][0]} is above {LAYERS[layer_of(m)][0]})"
              for m, edges in graph.items() for t, line in edges.items() if layer_of(t) > layer_of(m)]
    assert upward == []


def test_the_checker_sees_function_level_imports_and_circles():
    """The graph is not vacuous: known edges (one inside a function) and a made-up circle are found."""
    graph = import_graph()
    assert "core.models.registry" in graph["core.models.composites.hierarchy"]  # inside a function
    assert "core.models.kinds" in graph["core.models.classifier"]
    assert circles({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}) == [["a", "b", "c"]]
    assert layer_of("core.serving.inference") > layer_of("core.models.registry") > layer_of("core.io.reader")


def test_core_keeps_few_flat_modules_and_no_streamlit():
    flat = sorted(p.name for p in (REPO / "core").glob("*.py"))
    assert len(flat) <= FLAT_IN_CORE_AT_MOST, flat
    streamlit_in_core = [m for m, p in project_modules().items() if m.startswith("core")
                         for node in ast.walk(ast.parse(p.read_text()))
                         if isinstance(node, (ast.Import, ast.ImportFrom))
                         and any((getattr(node, "module", None) or a.name).split(".")[0] == "streamlit" for a in node.names)]
    assert streamlit_in_core == []
