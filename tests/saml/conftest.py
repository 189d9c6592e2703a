"""Fixtures for the SAML identity provider's tests."""

from __future__ import annotations

import json
import shutil
import time

import pytest

from saml import keys


@pytest.fixture
def saml_keys_file(settings, tmp_path):
    """A private copy of the test keyset (one active certificate), used by the site for this test, so
    a rotation never touches the keyset other tests sign with."""
    copy = tmp_path / "saml-keys.json"
    shutil.copyfile(settings.SAML_KEYS_FILE, copy)
    settings.SAML_SIGNING_KEYS = ""
    settings.SAML_KEYS_FILE = str(copy)
    return copy


def stored(path) -> list[dict]:
    return json.loads(open(path).read())["keys"]


def clock_at(offset: float):
    """A stand-in for the `time` module as seen by saml.keys, `offset` seconds ahead."""
    real = time.time
    return type("Clock", (), {"time": staticmethod(lambda: real() + offset)})


@pytest.fixture
def later(monkeypatch):
    """Move saml.keys' clock `offset` seconds ahead: `later(seconds)`."""

    def move(offset: float) -> None:
        monkeypatch.setattr(keys, "time", clock_at(offset))

    return move
