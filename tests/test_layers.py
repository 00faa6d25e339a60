"""The import graph points one way, and no two modules import each other.

Layers, lowest first (ARCHITECTURE.md draws them):
    core <- algorithms <- tracking <- runner <- sweep <- entry points (cli, bench, plugin API)
    core, suites <- analysis.data <- analysis.stats <- analysis.{figures,claims}
                 <- analysis.report <- analysis (the notebook API)

The graph is read from the source with ast: every `import` and `from ... import`, including
imports inside functions (a lazy import is still a dependency), each resolved to the module it
names (`from npgbench.harness import cli` is an edge to npgbench.harness.cli, not to the
package). Imports under `if TYPE_CHECKING:` are left out: they never execute, and annotations
may name a type of the layer above. The project imports its own modules by name only (no
importlib strings), so this graph is the one that runs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"harness": "npgbench.harness", "algorithms": "npgbench.algorithms"}
FOLDERS |= {"suites": "npgbench.suites", "analysis": "npgbench.analysis", "npgbench": "npgbench"}

LAYER_OF_PREFIX = {  # longest matching prefix decides
    "npgbench.harness.core": "core",
    "npgbench.algorithms": "algorithms",
    "npgbench.suites": "suites",
    "npgbench.harness.tracking": "tracking",
    "npgbench.harness.runner": "runner",
    "npgbench.harness.sweep": "sweep",
    "npgbench.harness": "entry",  # cli, the package, bench
    "npgbench": "entry",  # the plugin API and its conformance tests
    "npgbench.analysis.data": "analysis.data",
    "npgbench.analysis.stats": "analysis.stats",
    "npgbench.analysis.figures": "analysis.figures",
    "npgbench.analysis.claims": "analysis.claims",
    "npgbench.analysis.report": "analysis.report",
    "npgbench.analysis": "analysis",
}
BELOW = {
    "core": set(),
    "algorithms": {"core"},
    "suites": {"core"},
    "tracking": {"core", "algorithms", "suites"},
    "runner": {"core", "algorithms", "suites", "tracking"},
    "sweep": {"core", "algorithms", "suites", "tracking", "runner"},
    "analysis.data": {"core", "suites"},
    "analysis.stats": {"core", "suites", "analysis.data"},
    "analysis.figures": {"core", "suites", "analysis.data", "analysis.stats"},
    "analysis.claims": {"core", "suites", "analysis.data", "analysis.stats"},
}
BELOW["analysis.report"] = BELOW["analysis.figures"] | {"analysis.figures", "analysis.claims"}
BELOW["analysis"] = BELOW["analysis.report"] | {"analysis.report"}
BELOW["entry"] = set(BELOW) - {"entry"}
"""Layer -> the layers its modules may import (besides its own)."""


def layer(module: str) -> str | None:
    """The layer of an npgbench module name; None for anything else (stdlib, third party)."""
    for prefix in sorted(LAYER_OF_PREFIX, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return LAYER_OF_PREFIX[prefix]
    return None


def source_modules() -> dict[str, Path]:
    """Installed module name -> file, for every .py file of the source folders."""
    found = {}
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("").parts
            rel = rel[:-1] if rel[-1] == "__init__" else rel
            found[".".join((package, *rel))] = path
    return found


MODULES = source_modules()


def _type_checking_only(tree: ast.Module) -> set[int]:
    """ids of the import nodes inside `if TYPE_CHECKING:` blocks."""
    skip = set()
    for node in ast.walk(tree):
        test = getattr(node, "test", None)
        if isinstance(node, ast.If) and getattr(test, "id", getattr(test, "attr", "")) == (
            "TYPE_CHECKING"
        ):
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skip


def imports(path: Path, modules: dict | None = None) -> set[str]:
    """Module names a file imports at run time, submodules resolved (`from a import b` -> a.b
    when a.b is a module of `modules`)."""
    modules = MODULES if modules is None else modules
    tree = ast.parse(path.read_text(), str(path))
    skip, names = _type_checking_only(tree), set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: use an absolute npgbench.* import"
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                names.add(sub if sub in modules else str(node.module))
    return names


GRAPH = {module: imports(path) - {module} for module, path in MODULES.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_source_module_is_in_a_layer():
    assert len(GRAPH) > 100 and all(layer(m) for m in GRAPH), [m for m in GRAPH if not layer(m)]


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_point_down_the_layers(module):
    own = layer(module)
    allowed = BELOW[own] | {own}
    upward = sorted(d for d in GRAPH[module] if layer(d) and layer(d) not in allowed)
    assert not upward, f"{module} ({own}) imports {upward}: allowed {sorted(allowed)}"


def test_no_module_cycle():
    assert cycles(GRAPH) == []


def test_no_bare_top_level_imports_of_the_project_folders():
    """`import analysis` would find a user's own folder first: everything goes through npgbench."""
    folders = set(FOLDERS) - {"npgbench"}
    bare = {m: sorted(d for d in deps if d.split(".")[0] in folders) for m, deps in GRAPH.items()}
    assert not {m: d for m, d in bare.items() if d}


def test_no_importlib_strings_for_own_modules():
    """An import by string is an edge the graph above cannot see."""
    offenders = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            call = node.func if isinstance(node, ast.Call) else None
            name = getattr(call, "attr", getattr(call, "id", ""))
            args = node.args if isinstance(node, ast.Call) else []
            if name in ("import_module", "__import__") and args:
                first = args[0]
                if isinstance(first, ast.Constant) and str(first.value).startswith("npgbench"):
                    offenders.append(f"{module}:{node.lineno}")
    assert not offenders


def test_the_checker_sees_a_lazy_upward_import_and_a_cycle(tmp_path):
    """The walk finds an import inside a function, and the cycle finder finds a 3-cycle, so the
    rules above can fail."""
    bad = tmp_path / "policy.py"
    bad.write_text("def f():\n    from npgbench.harness import runner\n")
    assert layer("npgbench.harness.runner") not in BELOW["core"]
    assert "npgbench.harness.runner" in imports(bad)
    typed = tmp_path / "typed.py"
    typed.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import npgbench.x\n")
    assert "npgbench.x" not in imports(typed)
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
