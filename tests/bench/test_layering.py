"""``bench/`` is layered: its modules' imports (module-level and function-level) form no cycle.

The registry imports the sections and the sections never import the registry, the harness, the
report or the command line; those sit on top.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
TOP = {"registry", "harness", "report", "__main__"}
SECTIONS = {"stage_ingest", "merge_bench", "dag_parse", "latency", "orchestration"}


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The ``bench`` modules ``path`` imports anywhere in it (``bench.x``, ``from bench import x``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            assert not isinstance(node, ast.ImportFrom), f"{path.name}: relative import"
            continue
        found |= {n.split(".")[1] for n in names if n.startswith("bench.") and n.split(".")[1] in modules}
    return found - {path.stem}


def import_graph() -> dict[str, set[str]]:
    files = {p.stem: p for p in BENCH.glob("*.py")}
    return {name: _imports(path, set(files)) for name, path in files.items()}


def test_the_import_graph_is_acyclic() -> None:
    graph = import_graph()
    assert len(graph) > 10  # the graph is the real one
    assert graph["registry"] >= SECTIONS
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as error:
        raise AssertionError(f"bench/ imports in a cycle: {error.args[1]}") from None
    assert set(order) == set(graph)


def test_sections_and_lower_layers_never_import_the_top() -> None:
    for name, imported in import_graph().items():
        if name not in TOP:
            assert not imported & TOP, f"bench/{name}.py imports {sorted(imported & TOP)}"
