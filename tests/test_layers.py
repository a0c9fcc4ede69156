"""The house plan (README, "How it is built"): every import points down, none runs in a circle.

Layers, top to bottom; a module may import its own layer and the ones below, never above:

    bot.py, bot/cli.py      the command line
    sandbox/                the sandbox: the local Bot API server, its page, the demo village
    bot/                    assembly: settings loading, the app, middlewares, delivery, FSM
    handlers/               Telegram updates in, one router per feature
    schedules/, exports/    jobs and files (side by side: neither imports the other)
    views/                  what people see: texts, keyboards, callback data, cards, pictures
    storage/                rules, permissions, tables, the calendar, settings

Imports inside functions count as much as the ones at the top (they used to hide circles), and
no module may import itself back through others.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = [{"sandbox"}, {"bot"}, {"handlers"}, {"schedules", "exports"}, {"views"}, {"storage"}]
COMMAND_LINE = {"bot_cli", "bot.cli"}  # above everything
RANK = {package: rank for rank, layer in enumerate(LAYERS) for package in layer}


def module_name(path: Path) -> str:
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return name.removesuffix(".__init__")


def project_modules() -> dict[str, Path]:
    found = {"bot_cli": ROOT / "bot.py"}
    for package in RANK:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" not in path.parts:
                found[module_name(path)] = path
    return found


MODULES = project_modules()


def resolve(name: str) -> str | None:
    """The project module `name` refers to (a package's submodule or the package itself)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node but those under `if TYPE_CHECKING:` (names for the type checker only)."""
    found: list[ast.AST] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            stack.extend(node.orelse)
            continue
        found.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return found


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from storage import org` names the module storage.org
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {target for name in names if (target := resolve(name))}
    return found


GRAPH = {name: imports_of(path) - {name} for name, path in MODULES.items()}


def layer_of(module: str) -> int:
    return -1 if module in COMMAND_LINE else RANK[module.split(".", 1)[0]]


def test_every_import_points_down() -> None:
    upward = sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if layer_of(target) < layer_of(module)
        or (
            layer_of(target) == layer_of(module) >= 0
            and target.split(".")[0] != module.split(".")[0]
        )
    )
    assert not upward, "imports that run up (or sideways between schedules and exports):\n" + (
        "\n".join(upward)
    )


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_runs_in_a_circle() -> None:
    # a package's __init__ may name its own submodules (a registry); everything else is an edge
    graph = {
        module: {t for t in targets if not (module in RANK and t.startswith(module + "."))}
        for module, targets in GRAPH.items()
    }
    assert cycles(graph) == []


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"a"}, "c": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
    ],
)
def test_the_circle_finder_finds_circles(
    graph: dict[str, set[str]], expected: list[list[str]]
) -> None:
    assert cycles(graph) == expected


def test_the_walk_sees_imports_inside_functions() -> None:
    # exports/__init__ imports its exporters inside a function (the registry loads them late)
    assert "views.points" in GRAPH["exports.points"]
    assert all(layer_of(m) >= 0 for m in MODULES if m not in COMMAND_LINE)


def test_the_readme_map_names_files_that_exist() -> None:
    """Every file in README's map of the features is where the map says it is."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## How it is built", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and ".py" in line]
    assert len(rows) == 8  # one row per feature (home and buttons one of them)
    missing = []
    for row in rows:
        for cell in row.split("|")[2:]:
            folder = "tests"
            for word in cell.replace("`", " ").split():
                name = word.strip(",")
                if not name.endswith(".py"):
                    continue
                if "/" in name:
                    folder = name.rsplit("/", 1)[0]
                    path = ROOT / name
                else:
                    path = ROOT / folder / name
                if not path.is_file():
                    missing.append(str(path.relative_to(ROOT)))
    assert missing == []
