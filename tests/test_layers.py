"""Imports point down the layers (docs/architecture.md): a module imports only from its own layer or below.

core → supporters → giving → wall → patrons → ballots → staff → the app factory and CLI.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "membership"

CORE = {"db", "money", "config", "branding", "email", "queue", "ratelimit", "errors", "charts", "formatting",
        "extensions", "installation", "i18n", "catalogs", "translations", "pace", "logs", "metrics", "webhooks_out",
        "outbox", "web", "static", "storage", "templates", "migrations"}
DOMAINS = ["supporters", "giving", "wall", "patrons", "ballots", "imports", "staff"]
APP = {"__init__", "cli", "jobs", "demo", "models", "monitoring", "gunicorn_config"}

# The only import allowed to point up, and why.
EXCEPTIONS = {
    ("membership.giving.views", "membership.wall.services"):
        "the support page (/) shows the six newest supporter-wall entries; the wall itself reads giving's "
        "checkouts, so it sits above giving, and the support page is giving's",
}


def layer(module: str) -> int:
    """0 for the core, 1.. for the domains in order, then the app factory and CLI."""
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    if top in CORE:
        return 0
    if top in DOMAINS:
        return 1 + DOMAINS.index(top)
    assert top in APP, f"{module}: put it in a layer (tests/test_layers.py and docs/architecture.md)"
    return 1 + len(DOMAINS)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> set[str]:
    """Every `membership…` module the file imports, wherever in the file (functions included)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            # `from membership.staff import charts` imports the module membership.staff.charts
            found.update(f"{target}.{alias.name}" for alias in node.names
                         if (PACKAGE.parent / Path(*f"{target}.{alias.name}".split("."))).with_suffix(".py").exists())
    return {target for target in found if target == "membership" or target.startswith("membership.")}


def upward_imports() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = module_name(path)
        for target in sorted(imports(path)):
            if target == "membership":
                continue
            if layer(target) > layer(source) and (source, target) not in EXCEPTIONS:
                found.append(f"{source} imports {target}")
    return found


def test_imports_only_point_down() -> None:
    assert upward_imports() == []


def test_every_named_exception_is_still_needed() -> None:
    for source, target in EXCEPTIONS:
        path = PACKAGE.parent / Path(*source.split("."))
        assert target in imports(path.with_suffix(".py")), f"{source} no longer imports {target}: drop the exception"


def test_the_layers_are_read_from_the_module_path() -> None:
    assert layer("membership.db") == 0
    assert layer("membership.giving.views") < layer("membership.wall.services") < layer("membership.staff.views")
    assert layer("membership.cli") == layer("membership") == 1 + len(DOMAINS)


def test_tests_share_code_only_through_tests_support() -> None:
    """No test imports conftest or another test module: what tests share lives in tests/support/."""
    tests = PACKAGE.parent / "tests"
    found = []
    for path in sorted(tests.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [alias.name for alias in node.names] if isinstance(node, ast.Import) else [])
            found += [f"{path.relative_to(tests.parent)} imports {name}" for name in names
                      if name.startswith("tests.") and not name.startswith("tests.support")]
    assert found == []
