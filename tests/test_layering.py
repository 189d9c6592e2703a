"""The layers of Identity, kept honest (docs/architecture.md draws them).

    saml                    the SAML IdP: its service providers are oidc's apps (Client), and it
                            shares oidc's sign-in decisions (admit) and assurance levels
    oidc  scim              protocol apps: read (scim: and write) the directory and accounts
    directory  mfa  federation   feature apps: they plug into accounts, never into each other
       accounts        people, sign-in, sessions, audit: knows no factor or protocol app
       identity        infrastructure: settings, Redis, rate limits, logging, metrics, errors

An app may import its own modules and any app in a lower layer, nothing else: a lower layer that
imported a higher one, or two apps that imported each other, would make a cycle that only works while
the imports hide inside functions. Such function-level imports are allowed only with a comment saying
why (on the line, or the line above), so a hidden cycle cannot come back unnoticed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent

# Each app, and the apps it may import (besides itself).
MAY_IMPORT = {
    "identity": set(),
    "accounts": {"identity"},
    "mfa": {"accounts", "identity"},
    "directory": {"accounts", "identity"},
    "oidc": {"directory", "accounts", "identity"},
    "federation": {"accounts", "identity"},
    "scim": {"directory", "accounts", "identity"},
    "saml": {"oidc", "directory", "accounts", "identity"},
}


def app_of(module: str) -> str | None:
    top = module.split(".")[0]
    return top if top in MAY_IMPORT else None


def python_files(app: str) -> list[Path]:
    return sorted(path for path in (ROOT / app).rglob("*.py") if "migrations" not in path.parts)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level == 0:
        return [node.module or ""]
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return [".".join([*base, node.module] if node.module else base)]


def _commented(lines: list[str], at: int) -> bool:
    """A comment on the import's line, or in the block of imports it belongs to (ruff's import groups,
    separated by blank lines), or just above that block."""

    def in_block(line: str) -> bool:
        return not line.strip() or line.strip().startswith(("from ", "import ", "#"))

    start = at
    while start > 0 and in_block(lines[start - 1]):
        start -= 1
    end = at
    while end + 1 < len(lines) and in_block(lines[end + 1]) and not lines[end + 1].strip().startswith("#"):
        end += 1
    return any("#" in line for line in lines[start : end + 1])


def imports(app: str):
    """(file, line, imported module, inside a function, commented) for every import in the app's code."""
    for path in python_files(app):
        source = path.read_text()
        lines = source.splitlines()
        tree = ast.parse(source)
        module = module_name(path)
        in_function = {
            id(node)
            for function in ast.walk(tree)
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef))
            for node in ast.walk(function)
        }
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                commented = _commented(lines, node.lineno - 1)
                for name in imported_modules(node, module, path.name == "__init__.py"):
                    yield path.relative_to(ROOT), node.lineno, name, id(node) in in_function, commented


@pytest.mark.parametrize("app", sorted(MAY_IMPORT))
def test_an_app_imports_only_itself_and_lower_layers(app):
    wrong = [
        f"{path}:{line} imports {name}"
        for path, line, name, _inside, _commented in imports(app)
        if (other := app_of(name)) and other != app and other not in MAY_IMPORT[app]
    ]
    assert not wrong, f"{app} may import only {sorted(MAY_IMPORT[app]) or 'no other app'}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("app", sorted(MAY_IMPORT))
def test_function_level_imports_say_why(app):
    silent = [
        f"{path}:{line} imports {name} inside a function with no comment saying why"
        for path, line, name, inside, commented in imports(app)
        if inside and not commented
    ]
    assert not silent, "\n".join(silent)


def test_the_layers_have_no_cycle():
    """The rule itself: following "may import" from any app never leads back to it."""

    def reaches(start: str, target: str, seen: frozenset = frozenset()) -> bool:
        return any(
            lower == target or (lower not in seen and reaches(lower, target, seen | {lower}))
            for lower in MAY_IMPORT[start]
        )

    assert not [app for app in MAY_IMPORT if reaches(app, app)]


def test_every_app_is_in_a_layer():
    """A new app (federation, directory, SAML) gets its place in MAY_IMPORT before it lands."""
    ours = {entry.split(".")[0] for entry in settings.INSTALLED_APPS if (ROOT / entry.split(".")[0]).is_dir()}
    assert ours <= set(MAY_IMPORT), sorted(ours - set(MAY_IMPORT))
