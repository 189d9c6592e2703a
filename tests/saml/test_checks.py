"""The start-up check, the readiness check and the expiry warning for the signing certificate."""

from __future__ import annotations

import time

import pytest

from identity.health import NotReady
from saml import checks, keys


def test_a_usable_keyset_passes(saml_keys_file, settings):
    settings.DEBUG = False
    assert checks.signing_certificate_usable() == []
    assert checks.signing_certificate_not_expiring() == []
    checks.signing_certificate_ready()


def test_no_keyset_at_all_is_saml_not_set_up_a_warning_and_the_node_still_ready(settings, tmp_path):
    settings.DEBUG = False
    settings.SAML_SIGNING_KEYS = ""
    settings.SAML_KEYS_FILE = str(tmp_path / "missing.json")
    assert checks.signing_certificate_usable() == []
    [warning] = checks.saml_set_up()
    assert warning.id == "saml.W003" and "rotate_saml_certificate" in warning.hint
    checks.signing_certificate_ready()  # a deployment without SAML is ready
    assert checks.signing_certificate_not_expiring() == []


def test_a_keyset_that_cannot_be_used_fails_the_start_and_readiness_without_showing_the_path(settings, tmp_path):
    settings.DEBUG = False
    settings.SAML_SIGNING_KEYS = ""
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    settings.SAML_KEYS_FILE = str(broken)
    [error] = checks.signing_certificate_usable()
    assert error.id == "saml.E001" and "rotate_saml_certificate" in error.hint
    assert str(tmp_path) not in error.msg
    with pytest.raises(NotReady) as raised:
        checks.signing_certificate_ready()
    assert str(tmp_path) not in str(raised.value) and "SAML_KEYS_FILE" in str(raised.value)
    assert checks.saml_set_up() == []


def test_development_checks_make_no_keyset(settings, tmp_path):
    settings.DEBUG = True
    settings.SAML_SIGNING_KEYS = ""
    settings.SAML_KEYS_FILE = str(tmp_path / "dev.json")
    assert checks.signing_certificate_usable() == checks.signing_certificate_not_expiring() == []
    checks.signing_certificate_ready()
    assert not (tmp_path / "dev.json").exists()


def test_a_certificate_near_its_end_is_a_warning(saml_keys_file, monkeypatch):
    signer = keys.active()
    monkeypatch.setattr(
        checks,
        "time",
        type(
            "Clock",
            (),
            {"time": staticmethod(lambda: signer.expires - 86400), "strftime": time.strftime, "gmtime": time.gmtime},
        ),
    )
    [warning] = checks.signing_certificate_not_expiring()
    assert warning.id == "saml.W001" and signer.fingerprint in warning.msg and "--stage" in warning.hint
