"""The shape of the imports: no cycles in the headless core (late imports included: one cannot
dodge a cycle), no reaching into another module's private names, commands sharing code through
one module."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in (SRC / "rltop").rglob("*.py")}


def _imports(name: str) -> list[tuple[str, list[str], bool]]:
    """(imported rltop module, names taken from it, imported inside a function)."""
    path = MODULES[name]
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []

    def visit(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                out.extend((a.name, [], inner) for a in child.names if a.name.startswith("rltop"))
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - child.level + 1])
                    base = f"{base}.{child.module}" if child.module else base
                if not base.startswith("rltop"):
                    continue
                names = [a.name for a in child.names]
                subs = [n for n in names if f"{base}.{n}" in MODULES]
                out.extend((f"{base}.{n}", [], inner) for n in subs)
                rest = [n for n in names if n not in subs]
                if rest:
                    out.append((base, rest, inner))
            elif not isinstance(child, ast.If) or "TYPE_CHECKING" not in ast.unparse(child.test):
                visit(child, inner)

    visit(tree, False)
    return out


def _graph(prefix: str) -> dict[str, set[str]]:
    return {
        name: {target for target, _, _ in _imports(name) if target.startswith(prefix)}
        for name in MODULES
        if name.startswith(prefix)
    }


def test_no_import_cycle_in_core():
    graph = _graph("rltop.core")
    cycles = []
    for start in graph:
        # every module reachable from ``start``: if ``start`` is among them, it imports itself back
        seen, stack = set(), list(graph[start])
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            stack.extend(graph.get(node, ()))
        if start in seen:
            cycles.append(start)
    assert not cycles, f"core modules that import themselves back: {sorted(cycles)}"


def test_the_cycle_check_sees_a_cycle():
    # a check that cannot fail proves nothing: the graph of two modules importing each other
    assert "rltop.core.formats.registry" in _graph("rltop.core")["rltop.core.formats"]
    assert "rltop.core.formats.art" in _graph("rltop.core")["rltop.core.formats.registry"]


def test_late_imports_count_as_imports():
    """Imports inside functions (kept late for start-up time) are edges of the graph too, so a
    late import cannot hide a cycle from ``test_no_import_cycle_in_core``."""
    late = {
        (name, target)
        for name in MODULES
        if name.startswith("rltop.core")
        for target, _, nested in _imports(name)
        if nested
    }
    graph = _graph("rltop.core")
    assert all(target in graph[name] for name, target in late if target in graph)


def test_no_private_names_from_other_modules():
    private = [
        f"{name}: {target}.{n}"
        for name in MODULES
        # the diagnose package is being split by issue #13; its own helpers are its business
        if name.startswith(("rltop.core", "rltop.commands", "rltop.cli", "rltop.config"))
        and not name.startswith("rltop.core.diagnose")
        for target, names, _ in _imports(name)
        for n in names
        if n.startswith("_") and not n.startswith("__")
    ]
    assert not private, f"private names imported from another module: {private}"


#: a command may start another command's screen (``rltop demo`` opens the dashboard)
ALLOWED = {("rltop.commands.demo", "rltop.commands.view")}


def test_commands_share_code_through_common_only():
    wrong = [
        f"{name} -> {target}"
        for name in MODULES
        if name.startswith("rltop.commands.")
        for target, _, _ in _imports(name)
        if (target == "rltop.cli" or target.startswith("rltop.commands."))
        and target != "rltop.commands.common"
        and (name, target) not in ALLOWED
    ]
    assert not wrong, f"commands importing cli or each other: {wrong}"
