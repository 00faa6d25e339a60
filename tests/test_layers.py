"""The import graph points one way: core <- algorithms <- orchestration; suites and analysis
build on the core only (analysis may read suite files too), and nothing imports upward.

Every `import` and `from ... import` in the four source folders is read with ast, including
imports inside functions (a lazy import is still a dependency), so one `from npgbench.algorithms
import ...` in harness/core/policy.py fails here before it becomes a cycle at run time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"harness": "npgbench.harness", "algorithms": "npgbench.algorithms"}
FOLDERS |= {"suites": "npgbench.suites", "analysis": "npgbench.analysis"}

ALLOWED = {
    "core": {"core"},
    "algorithms": {"core", "algorithms"},
    "suites": {"core", "suites"},
    "analysis": {"core", "suites", "analysis"},
    "orchestration": {"core", "algorithms", "suites", "orchestration"},
}
"""Layer -> the layers its modules may import."""


def layer(module: str) -> str | None:
    """The layer of an npgbench module name; None for anything else (stdlib, third party)."""
    parts = module.split(".")
    if parts[0] != "npgbench" or len(parts) < 2:
        return None
    if parts[1] == "harness":
        return "core" if parts[2:3] == ["core"] else "orchestration"
    return {"algorithms": "algorithms", "suites": "suites", "analysis": "analysis"}.get(parts[1])


def source_modules() -> dict[str, Path]:
    """Installed module name -> file, for every .py file of the four folders."""
    found = {}
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("").parts
            rel = rel[:-1] if rel[-1] == "__init__" else rel
            found[".".join((package, *rel))] = path
    return found


def imports(path: Path) -> set[str]:
    """Absolute module names imported anywhere in a file (relative imports are not used)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: use an absolute npgbench.* import"
            names.add(node.module)
    return names


EDGES = {module: imports(path) for module, path in source_modules().items()}


def test_every_source_module_is_in_a_layer():
    assert len(EDGES) > 60 and all(layer(m) for m in EDGES), [m for m in EDGES if not layer(m)]


@pytest.mark.parametrize("module", sorted(EDGES))
def test_imports_point_down_the_layers(module):
    own = layer(module)
    upward = sorted(d for d in EDGES[module] if layer(d) and layer(d) not in ALLOWED[own])
    assert not upward, f"{module} ({own}) imports {upward}: allowed {sorted(ALLOWED[own])}"


def test_no_bare_top_level_imports_of_the_project_folders():
    """`import analysis` would find a user's own folder first: everything goes through npgbench."""
    bare = {m: sorted(d for d in deps if d.split(".")[0] in FOLDERS) for m, deps in EDGES.items()}
    assert not {m: d for m, d in bare.items() if d}


def test_the_layer_graph_has_no_cycle():
    graph = {name: allowed - {name} for name, allowed in ALLOWED.items()}
    seen, done = set(), set()

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert node not in path, f"cycle: {' -> '.join((*path, node))}"
        if node in done:
            return
        seen.add(node)
        for nxt in graph[node]:
            visit(nxt, (*path, node))
        done.add(node)

    for name in graph:
        visit(name, ())
    assert done == set(ALLOWED)


def test_the_checker_sees_an_upward_import(tmp_path):
    """The walk finds a lazy import inside a function, so the rule above can fail."""
    bad = tmp_path / "policy.py"
    bad.write_text("def f():\n    from npgbench.algorithms import registry\n")
    assert layer("npgbench.algorithms") not in ALLOWED["core"]
    assert "npgbench.algorithms" in imports(bad)
