"""The package import graph, read from the source with :mod:`ast` (nothing is imported).

Every ``import`` and ``from ... import`` statement counts, at module level or inside a function
(a lazy import is still a dependency: it runs the moment the function does), and so does
``importlib.import_module("name")`` or ``__import__("name")`` with a literal name. A module belongs to a
*component* (:func:`component_of`) by its package alone, with no list of exceptions: the
subpackages ``bnconform.reference``, ``.engines`` (one record per framework engine, and the kernel
configurations collected from them), ``.adapters``, ``.reports``, ``.training`` (what the two
experiments share: trainer and job contracts, per-framework training machinery), ``.cifar``,
``.blobs``, ``.app``
(the commands, the child processes and their progress, the pytest plugins) and ``.conformance``
(the suite's test modules); the repository's ``benchmarks``; and the ``bnconform`` core (cases,
strategies, tolerance, comparison, checks, bounds, models, ...): every module directly in ``bnconform/``.
A ``__main__`` module is what ``python -m`` runs and nothing imports: it is an entry point of the
app wherever its package is.

:data:`LAYERS` declares the order, lowest first: a component may import only components of a
lower layer (or itself). :func:`violations` lists every edge that breaks it, and :func:`cycles`
every cycle among components (a cycle always contains a violating edge; both are reported so a
failure says which modules to look at).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

#: lowest first; components on one line do not import each other
LAYERS: tuple[tuple[str, ...], ...] = (
    ("reference",),
    ("bnconform-core",),
    ("engines",),
    ("adapters", "reports"),
    ("training",),
    ("cifar", "benchmarks"),
    ("blobs",),
    ("app",),
    ("conformance",),
)

#: the directories scanned: the installed package and the repository's benchmarks
PACKAGES = ("bnconform", "benchmarks")
#: the subpackages of ``bnconform`` that are components of their own
SUBPACKAGES = ("reference", "engines", "adapters", "reports", "training", "cifar", "blobs", "app", "conformance")


def component_of(module: str) -> str | None:
    """The component of a dotted module name, None for anything outside the project."""
    parts = module.split(".")
    if parts[0] == "benchmarks":
        return "benchmarks"
    if parts[0] != "bnconform":
        return None
    if parts[-1] == "__main__":
        return "app"
    if len(parts) > 1 and parts[1] in SUBPACKAGES:
        return parts[1]
    return "bnconform-core"


@dataclass(frozen=True)
class Edge:
    source: str  # importing module
    target: str  # imported module (as resolved)
    line: int

    def components(self) -> tuple[str | None, str | None]:
        return component_of(self.source), component_of(self.target)

    def describe(self) -> str:
        a, b = self.components()
        return f"{self.source} (line {self.line}) imports {self.target}: {a} -> {b}"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    """The absolute names ``from X import a, b`` refers to: ``X`` and ``X.a``, ``X.b`` (a name may be
    a submodule; an attribute that is not one is still in ``X``'s component)."""
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
        prefix = ".".join(base)
        target = f"{prefix}.{node.module}" if node.module else prefix
    else:
        target = node.module or ""
    return [target] + [f"{target}.{alias.name}" if target else alias.name
                       for alias in node.names if alias.name != "*"]


def imports_of(path: Path, root: Path) -> list[Edge]:
    """Every import in one file, module level and lazy alike."""
    module = module_name(path, root)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    edges: list[Edge] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            edges += [Edge(module, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = _resolve(module, is_package, node)
            # "from pkg import sub": the component of pkg.sub is pkg's, one edge suffices
            edges.append(Edge(module, names[0], node.lineno))
            edges += [Edge(module, n, node.lineno) for n in names[1:]
                      if component_of(n) != component_of(names[0])]
        elif isinstance(node, ast.Call) and _is_dynamic_import(node.func) and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                edges.append(Edge(module, first.value, node.lineno))
    return edges


def _is_dynamic_import(func: ast.expr) -> bool:
    """``import_module(...)``, ``importlib.import_module(...)`` or ``__import__(...)``."""
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    return name in ("import_module", "__import__")


def project_edges(root: Path, packages=PACKAGES) -> list[Edge]:
    """Every import, in every module of ``packages`` under ``root``, of another project component."""
    edges = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            for edge in imports_of(path, root):
                a, b = edge.components()
                if a is not None and b is not None and a != b:
                    edges.append(edge)
    return edges


def layer_of(component: str, layers=LAYERS) -> int:
    for i, layer in enumerate(layers):
        if component in layer:
            return i
    raise KeyError(f"component {component!r} is in no layer of {layers}")


def violations(edges: list[Edge], layers=LAYERS) -> list[Edge]:
    """Edges from a component to one of the same or a higher layer (other than itself)."""
    return [e for e in edges if layer_of(e.components()[1], layers) >= layer_of(e.components()[0], layers)]


def component_graph(edges: list[Edge]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for e in edges:
        a, b = e.components()
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one member (Tarjan's algorithm), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                found.append(sorted(scc))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)
