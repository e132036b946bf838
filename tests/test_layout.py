"""The package's layering, read from its source with ``ast``: no import cycles among genlab's modules,
and evaluation does not depend on training.

Every ``import`` counts, at module level or inside a function: a lazy import hides a cycle at
import time but the modules still depend on each other.
"""

import ast
from pathlib import Path

import genlab

PACKAGE = Path(genlab.__file__).parent


def genlab_modules() -> dict[str, tuple[Path, bool]]:
    """``{dotted name: (file, is a package)}`` for every module of genlab."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return modules


def import_graph() -> dict[str, set[str]]:
    """``{module: the genlab modules it imports}``; ``from pkg import sub`` counts as importing ``pkg.sub``."""
    modules = genlab_modules()
    graph = {}
    for name, (path, is_package) in modules.items():
        package = name if is_package else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[:len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                subs = {f"{target}.{alias.name}" for alias in node.names} & set(modules)
                targets.update(subs)
                if node.module or len(subs) < len(node.names):  # names taken from the module itself
                    targets.add(target)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_sees_the_imports_it_should():
    graph = import_graph()
    assert "genlab.models.registry" in graph["genlab.models.io"]                   # from .registry import ...
    assert "genlab.models.base" in graph["genlab.models.vae"]        # from .base import ...
    assert "genlab.data.images" in graph["genlab.data"]              # from . import images
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles_among_genlab_modules():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_evaluation_imports_nothing_from_training():
    graph = import_graph()
    offenders = {name: sorted(t for t in targets if t == "genlab.training" or t.startswith("genlab.training."))
                 for name, targets in graph.items() if name.startswith("genlab.evaluation")}
    assert not any(offenders.values()), offenders


def test_shared_helpers_live_outside_training():
    """compare (which trains nothing) uses the neutral modules for devices and pictures."""
    assert not any(t.startswith("genlab.training") for t in import_graph()["genlab.compare"])
    from genlab.devices import pick_device
    from genlab.plots import save_curve
    from genlab.training import plots
    from genlab.training.trainer import pick_device as old_pick_device

    assert plots.save_curve is save_curve and old_pick_device is pick_device  # old import paths still work
