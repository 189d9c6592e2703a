"""Every test that starts a server of its own is marked `processes`, so `-m "not processes"` leaves it out
locally. A forgotten marker would only show as a slow local run, so this reads the test modules' source:
a test or fixture that starts a process (subprocess.Popen, or the harnesses in tests/stack.py,
tests/processes.py and tests/scaleout/cluster.py, or a class or function of its own module that does)
must be in a module marked `processes`, carry the marker, or request a fixture of PROCESS_FIXTURES.
Short commands run to completion (`subprocess.run` of a settings probe) are not servers and need none."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.processes import PROCESS_FIXTURES

TESTS = Path(__file__).resolve().parent
STARTERS = frozenset({"Popen", "stack", "Stack", "Cluster", "RedisProcess", "gunicorn_refusal"})


def _called(node: ast.AST) -> set[str]:
    names = set()
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            func = call.func
            names.add(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", ""))
    return names


def _marked(nodes) -> bool:
    return any("mark.processes" in ast.unparse(node) for node in nodes)


def _local_starters(tree: ast.Module) -> set[str]:
    """STARTERS, and the module's own classes and functions that use one (a Stack subclass, a helper).
    Only top-level names: a method called `start` must not make every `.start()` a server."""
    starters = set(STARTERS)
    defs = [node for node in tree.body if isinstance(node, (ast.ClassDef, ast.FunctionDef))]
    grew = True
    while grew:
        grew = False
        for node in defs:
            bases = {ast.unparse(base) for base in getattr(node, "bases", [])}
            if node.name not in starters and (_called(node) | bases) & starters:
                starters.add(node.name)
                grew = True
    return starters


def unmarked_starters(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    module_marked = _marked(
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "pytestmark" for t in node.targets)
    )
    if module_marked:
        return []
    starters = _local_starters(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef) or not _called(node) & starters:
            continue
        is_fixture = any("fixture" in ast.unparse(decorator) for decorator in node.decorator_list)
        if not (is_fixture or node.name.startswith("test_")):
            continue  # a helper: the tests and fixtures calling it are what count
        requested = {arg.arg for arg in node.args.args}
        if node.name in PROCESS_FIXTURES or requested & PROCESS_FIXTURES or _marked(node.decorator_list):
            continue
        found.append(f"{path.relative_to(TESTS.parent)}::{node.name}")
    return found


def test_every_test_that_starts_a_server_is_marked_processes():
    unmarked = [name for path in sorted(TESTS.rglob("*.py")) for name in unmarked_starters(path)]
    assert not unmarked, (
        "these start processes but are not marked `processes` (mark the test or its module, or add a "
        f"shared fixture to PROCESS_FIXTURES in tests/processes.py): {unmarked}"
    )


def test_the_check_sees_a_server_started_by_a_test_or_a_fixture(tmp_path, monkeypatch):
    monkeypatch.setattr(f"{__name__}.TESTS", tmp_path / "tests")
    module = tmp_path / "tests" / "test_example.py"
    module.parent.mkdir()
    module.write_text(
        "import subprocess\n"
        "import pytest\n\n"
        "class Web(Stack):\n    pass\n\n"
        "@pytest.fixture\ndef app():\n    yield subprocess.Popen(['sleep', '9'])\n\n"
        "def test_direct():\n    subprocess.Popen(['true'])\n\n"
        "def test_through_a_subclass(tmp_path):\n    Web(tmp_path)\n\n"
        "@pytest.mark.processes\ndef test_marked():\n    subprocess.Popen(['true'])\n\n"
        "def test_gated(redis_server_binary, tmp_path):\n    Web(tmp_path)\n\n"
        "def test_a_probe():\n    subprocess.run(['true'])\n"
    )
    assert unmarked_starters(module) == [
        "tests/test_example.py::app",
        "tests/test_example.py::test_direct",
        "tests/test_example.py::test_through_a_subclass",
    ]
    module.write_text("import pytest\n\npytestmark = [pytest.mark.processes]\n\n" + module.read_text())
    assert unmarked_starters(module) == []
