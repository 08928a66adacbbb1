"""The package's import graph has no cycle, and recipes load without TensorFlow.

Every module under `seqtasks/` is parsed (not imported) and every import of a
`seqtasks` module in it, at module level or inside a function, is an edge:
`import seqtasks.a.b` -> `seqtasks.a.b`; `from seqtasks.a import b` ->
`seqtasks.a.b` when that is a module, else `seqtasks.a`. A package's
`__init__.py` is a node of its own (its name is the package's); the implicit
import of a submodule's parent packages is not an edge.
"""

import ast
import os
import subprocess
import sys
from pathlib import Path

from conftest import SUBPROCESS_TIMEOUT

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "seqtasks"


def module_files():
    """`{module name: path}` of every module of the package."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _absolute(node, module, is_package):
    """The module a `from ... import` names (relative imports resolved)."""
    if not node.level:
        return node.module
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(module, path, modules):
    """The `seqtasks` modules that `module` imports, anywhere in its file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(node, module, is_package)
            names = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source
                     for alias in node.names]
        else:
            continue
        found.update(name for name in names if name == "seqtasks" or name.startswith("seqtasks."))
    return found


def import_graph():
    modules = module_files()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_cycle(graph):
    """One cycle of `graph` as a list of nodes (first == last), or None."""
    state = {}  # node -> "active" while on the DFS stack, "done" after
    stack = []

    def visit(node):
        state[node] = "active"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "active":
                return stack[stack.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_graph_sees_the_imports():
    """The parser finds module-level, function-level and `from package import module` imports."""
    graph = import_graph()
    assert "seqtasks" in graph and "seqtasks.tasks.tagging" in graph  # packages are nodes
    assert "seqtasks.config.recipe" in graph["seqtasks"]  # module level
    assert "seqtasks.api" in graph["seqtasks"]  # inside `__getattr__`
    assert "seqtasks.training.fit" in graph["seqtasks.api"]  # `from seqtasks.training import fit`
    assert "seqtasks.registry" in graph["seqtasks.tasks.model"]  # `from seqtasks.registry import ...`
    unknown = {target for targets in graph.values() for target in targets if target not in graph}
    assert not unknown, unknown  # every import names a module of the package


def test_find_cycle_reports_the_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"a"}}) == ["a", "a"]


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


LIGHT = """
import sys

import seqtasks
assert seqtasks.Recipe.__module__ == "seqtasks.config.recipe"
import seqtasks.config.recipe
from seqtasks.config.recipe import Recipe

recipe = Recipe.from_dict({"task": "classification", "model": {"encoder": {"kind": "gru"}},
                           "train": {"regularizer": {"kind": "virtual_adversarial"}}})
assert recipe.model.head.kind == "classifier"
Recipe.from_yaml(sys.argv[1])
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "jax", "torch"))
assert not heavy, heavy[:10]
print("LIGHT_OK")
"""


def test_recipes_load_without_tensorflow_or_keras():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    result = subprocess.run([sys.executable, "-c", LIGHT, str(REPO / "recipes" / "pos_ud_ewt_bilstm.yaml")],
                            env=env, cwd=REPO, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT)
    assert result.returncode == 0 and "LIGHT_OK" in result.stdout, result.stdout + result.stderr


TASK_KINDS = """
import sys

from seqtasks.registry import TASKS, task_kind

for task in TASKS:
    task_kind(task)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "jax", "torch"))
assert not heavy, heavy[:10]
print("KINDS_OK")
"""


def test_task_kinds_load_without_keras():
    # Data preparation looks the task kind up before the data checks; a kind
    # that imported Keras there would print TensorFlow's start-up lines and
    # spend seconds before a one-line data error (the language-model kind did).
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    result = subprocess.run([sys.executable, "-c", TASK_KINDS], env=env, cwd=REPO, capture_output=True,
                            text=True, timeout=SUBPROCESS_TIMEOUT)
    assert result.returncode == 0 and "KINDS_OK" in result.stdout, result.stdout + result.stderr
