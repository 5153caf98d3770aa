"""lanmsg's import graph, read from the source: no module imports, however indirectly, one that
imports it back; no import runs up a floor (docs/architecture.md); only the modules named here
touch sockets or the terminal.

Every ``import`` counts, at module level or inside a function (a lazy import hides a circle at run
time, it does not remove it); only imports under ``if TYPE_CHECKING:`` are left out, since they
never run. The graph is read from the AST, so a circle fails here even when no test happens to
walk the import order that would break.
"""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "lanmsg"

# docs/architecture.md's floors, from the bottom (mailslot.py is below them all): a module imports
# from its own floor or those below. A new module goes on one of them.
FLOORS = [
    (
        "codecs and models",
        {
            "lanmsg",
            "lanmsg.protocol",
            "lanmsg.auth",
            "lanmsg.output",
            "lanmsg.chat.commands",
            "lanmsg.chat.model",
            "lanmsg.chat.lineedit",
            "lanmsg.chat.keys",
            "lanmsg.chat.textwidth",
            "lanmsg.chat.graphemes",
        },
    ),
    ("settings", {"lanmsg.settings", "lanmsg.signals"}),
    ("node", {"lanmsg.node", "lanmsg.control"}),
    ("operations", {"lanmsg.messenger", "lanmsg.discovery"}),
    ("engine and library", {"lanmsg.listener", "lanmsg.client"}),
    ("chat core", {"lanmsg.chat.session", "lanmsg.chat.input"}),
    ("front ends", {"lanmsg.chat.stdin", "lanmsg.chat.line", "lanmsg.chat.screen", "lanmsg.chat.terminal"}),
    ("entry points", {"lanmsg.chat", "lanmsg.cli", "lanmsg.completion", "lanmsg.__main__"}),
]
# Who may import what touches the network or the terminal (mailslot.py owns the mailslots).
MAY_IMPORT = {
    "socket": {"lanmsg.protocol", "lanmsg.discovery"},  # inet_aton/ntoa; discover --check's TCP connect
    "curses": {"lanmsg.chat", "lanmsg.chat.screen"},  # the chooser asks whether curses can run
    "termios": {"lanmsg.chat.terminal"},
    "tty": {"lanmsg.chat.terminal"},
    "msvcrt": {"lanmsg.chat.terminal"},
}


def module_names() -> dict[str, pathlib.Path]:
    """Every module of the package, by dotted name (a package by its own name, for its __init__)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """The import statements that can run: every one, less those under ``if TYPE_CHECKING:``."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def imports_of(name: str, path: pathlib.Path, modules: dict[str, pathlib.Path], *, every: bool = False) -> set[str]:
    """The modules of the package that ``name`` imports (``every``: any module, not only the package's)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in _runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # ``from . import x``: the submodule x; a name that is no submodule is the package's own
            targets = [f"{source}.{alias.name}" for alias in node.names if f"{source}.{alias.name}" in modules]
            if len(targets) < len(node.names):
                targets.append(source)
        out.update(t for t in targets if (every or t in modules) and t != name)
    return out


def import_graph() -> dict[str, set[str]]:
    modules = module_names()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def circles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan), and self-imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                found.append(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def _describe(component: frozenset[str], graph: dict[str, set[str]]) -> str:
    edges = sorted(f"{a} -> {b}" for a in component for b in graph[a] if b in component)
    return "{" + ", ".join(sorted(component)) + "}: " + "; ".join(edges)


def test_the_graph_is_read_from_every_module():
    graph = import_graph()
    assert "lanmsg.cli" in graph and "lanmsg.protocol" in graph["lanmsg.cli"]
    assert all(target.startswith("lanmsg") for targets in graph.values() for target in targets)


def test_the_reader_finds_lazy_and_relative_imports_and_skips_type_checking_ones(tmp_path):
    src = (
        "from . import a, VERSION\nfrom .b import thing\nimport pkg.c\nfrom .. import top\n"
        "TYPE_CHECKING = False\nif TYPE_CHECKING:\n    from . import d\n"
        "def later():\n    from .e import f\n"
    )
    path = tmp_path / "m.py"
    path.write_text(src)
    names = ("pkg", "pkg.sub", "pkg.sub.m", "pkg.sub.a", "pkg.sub.b", "pkg.c", "pkg.sub.d", "pkg.sub.e", "pkg.top")
    modules = dict.fromkeys(names, path)
    # VERSION is the package's own name: the package pkg.sub (its __init__) is imported for it
    expected = {"pkg.sub", "pkg.sub.a", "pkg.sub.b", "pkg.c", "pkg.top", "pkg.sub.e"}
    assert imports_of("pkg.sub.m", path, modules) == expected
    assert circles({"x": {"y"}, "y": {"z"}, "z": {"x"}, "w": {"x"}}) == [frozenset({"x", "y", "z"})]


def test_no_module_of_lanmsg_imports_itself_back():
    graph = import_graph()
    found = circles(graph)
    assert not found, "import circles: " + " | ".join(_describe(c, graph) for c in found)


def test_every_import_goes_down_a_floor_or_stays_on_its_own():
    floor = {module: i for i, (_, modules) in enumerate(FLOORS) for module in modules}
    graph = import_graph()
    assert set(graph) == set(floor), f"put each module on a floor (FLOORS): {sorted(set(graph) ^ set(floor))}"
    up = sorted(
        f"{a} ({FLOORS[floor[a]][0]}) -> {b} ({FLOORS[floor[b]][0]})"
        for a, targets in graph.items()
        for b in targets
        if floor[b] > floor[a]
    )
    assert not up, "imports that run up a floor: " + "; ".join(up)


def test_only_the_named_modules_touch_the_network_or_the_terminal():
    modules = module_names()
    for name, path in modules.items():
        imported = imports_of(name, path, modules, every=True)
        for module, allowed in MAY_IMPORT.items():
            assert module not in imported or name in allowed, f"{name} imports {module} (MAY_IMPORT)"
