"""The package's shape: no import cycles and no import against the packages' direction (counting imports placed inside
functions, which can hide one), Gradio's ``ui/`` imported by nobody in the package, few modules at the top level, a
docstring for every package."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "workbench"
ARCHITECTURE = PACKAGE.parent / "docs" / "architecture.md"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the workbench modules it imports anywhere in its body (a package stands for its __init__)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(
                        package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                    )
                for alias in (
                    node.names
                ):  # `from workbench.evaluation import judge` imports the module workbench.evaluation.judge
                    targets.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


# Lower never imports higher; a package may import its own modules and anything lower. The top-level modules come
# first; cli.py and __init__.py are entry points, which may import anything.
LAYERS = [
    {"errors", "atomic", "hardware", "quiet", "models", "setup_kernel"},
    {"data"},
    {"workspace"},
    {"inference"},
    {"training"},
    {"evaluation"},
    {"export"},
    {"server"},
    {"commands", "ui"},  # side by side: neither imports the other
]
ENTRY_POINTS = {"workbench", "workbench.cli"}


def layer(module: str) -> tuple[int, str]:
    """(the layer of ``module``, its top-level name): ``workbench.inference.bench`` -> (3, "inference")."""
    top = module.split(".")[1]
    return next(i for i, names in enumerate(LAYERS) if top in names), top


def against_the_direction(graph: dict[str, set[str]]) -> list[str]:
    wrong = []
    for source, targets in sorted(graph.items()):
        if source in ENTRY_POINTS:
            continue
        for target in sorted(targets):
            if target == "workbench":  # the package's root imports most of it: an upward edge in disguise
                wrong.append(f"{source} -> workbench (import the module itself)")
                continue
            (low, mine), (high, theirs) = layer(source), layer(target)
            if high > low or (high == low and mine != theirs and high == len(LAYERS) - 1):
                wrong.append(f"{source} -> {target}")
    return wrong


def test_every_top_level_module_and_package_has_a_layer():
    names = {
        p.stem if p.is_file() else p.name
        for p in PACKAGE.iterdir()
        if p.suffix == ".py" or (p / "__init__.py").is_file()
    }
    assert names - {"__init__", "cli"} == set().union(*LAYERS)


def test_packages_import_only_downwards():
    wrong = against_the_direction(import_graph())
    assert not wrong, "imports against the direction (lower never imports higher):\n" + "\n".join(wrong)


def test_the_direction_check_finds_an_upward_import():
    graph = {"workbench.data.loading": {"workbench.training.config"}, "workbench.ui.x": {"workbench.commands.y"}}
    assert against_the_direction(graph) == [
        "workbench.data.loading -> workbench.training.config",
        "workbench.ui.x -> workbench.commands.y",
    ]


def test_only_ui_imports_ui():
    outside = {m: t for m, t in import_graph().items() if not m.startswith("workbench.ui")}
    wrong = sorted(f"{m} -> {u}" for m, targets in outside.items() for u in targets if u.startswith("workbench.ui"))
    assert not wrong, wrong


def test_the_package_keeps_few_modules_at_its_top_level():
    modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(modules) <= 8, f"group these by concern into a package: {modules}"


def test_every_package_says_what_it_is_for():
    missing = [
        str(p.relative_to(PACKAGE.parent))
        for p in sorted(PACKAGE.rglob("__init__.py"))
        if not ast.get_docstring(ast.parse(p.read_text(encoding="utf-8")))
    ]
    assert not missing, f"add a docstring (a paragraph: what the package is for): {missing}"


def file_map(text: str) -> set[str]:
    """The modules docs/architecture.md's file map names, as paths under workbench/: each section names its folder
    (**Data (`workbench/data/`)**), each table row its module in the first column."""
    section = text.split("## File map", 1)[1].split("\n## ", 1)[0]
    folder, named = None, set()
    for line in section.splitlines():
        if line.startswith("**") and (heading := re.search(r"`workbench/([\w/]*)`", line)):
            folder = heading.group(1)
        elif line.startswith("| `") and folder is not None:
            named.update(folder + name for name in re.findall(r"`([\w/]+\.py)`", line.split("|")[1]))
    return named


def test_the_file_map_names_every_module_and_no_other():
    tree = {
        str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent == PACKAGE
    }
    named = file_map(ARCHITECTURE.read_text(encoding="utf-8"))
    assert not tree - named, f"add to docs/architecture.md's file map: {sorted(tree - named)}"
    assert not named - tree, f"docs/architecture.md's file map names modules that are gone: {sorted(named - tree)}"
