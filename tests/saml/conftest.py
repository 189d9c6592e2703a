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


@pytest.fixture
def idp_metadata(db) -> str:
    from django.test import Client

    return Client().get("/saml/metadata/").content.decode()


@pytest.fixture
def make_sp(idp_metadata):
    """A pysaml2 service provider at `base_url`, registered here: `make_sp(name=..., **options)`."""
    from saml.registration import register
    from tests.saml.service_provider import ServiceProvider

    def make(base_url: str = "https://wiki.example.com", name: str = "Wiki", settings: dict | None = None, **options):
        sp = ServiceProvider(base_url=base_url, idp_metadata=idp_metadata, **options)
        sp.registered = register(name, sp.metadata_xml(), **(settings or {}))  # type: ignore[attr-defined]
        return sp

    return make


@pytest.fixture
def sp(make_sp):
    return make_sp()
