"""gunicorn.conf.py's hooks, called as gunicorn calls them."""

from __future__ import annotations

import runpy
import ssl
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_worker_builds_its_tls_context_once_not_per_connection():
    """gunicorn asks for a context on every connection; building one costs about a millisecond."""
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    built = []

    def factory():
        built.append(ssl.create_default_context(ssl.Purpose.CLIENT_AUTH))
        return built[-1]

    first = conf["ssl_context"](None, factory)
    assert conf["ssl_context"](None, factory) is first
    assert built == [first]


def test_the_app_is_loaded_once_in_the_master_unless_turned_off(monkeypatch):
    assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["preload_app"] is True
    monkeypatch.setenv("PRELOAD_APP", "0")
    assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["preload_app"] is False
