"""pysaml2's private parts saml/ relies on, pinned: an upgrade that changes them fails here first."""

from __future__ import annotations

import inspect

from saml2.server import Server


def test_authn_response_still_takes_an_authn_statement():
    # saml.flows.success passes its own AuthnStatement (our SessionIndex, for Single Logout).
    parameters = inspect.signature(Server._authn_response).parameters
    assert {"authn_statement", "name_id", "policy", "encrypt_assertion", "sign_assertion"} <= set(parameters)


def test_a_missing_keyset_is_a_503_not_a_500(sp, client, settings, tmp_path):
    settings.DEBUG = False
    settings.SAML_SIGNING_KEYS = ""
    settings.SAML_KEYS_FILE = str(tmp_path / "missing.json")
    _id, url = sp.redirect_request()
    from tests.saml.pages import local

    response = client.get(local(url))
    assert response.status_code == 503 and response["Retry-After"]
    assert client.get("/saml/metadata/").status_code == 503


def test_without_xmlsec1_sign_on_is_a_503_and_the_check_says_so(sp, client, monkeypatch):
    from saml import checks, idp
    from tests.saml.pages import local

    monkeypatch.setattr(idp.shutil, "which", lambda name: None)
    monkeypatch.setattr(idp, "_cache", {})
    _id, url = sp.redirect_request()
    assert client.get(local(url)).status_code == 503
    assert [message.id for message in checks.xmlsec_installed()] == ["saml.W002"]


def test_pysaml2_is_not_loaded_at_process_start():
    """Its XML schemas take about a second to load: every gunicorn worker, Celery process and manage.py
    command would pay that, SAML used or not. They load at the first SAML request instead."""
    import subprocess
    import sys

    probe = (
        "import django, sys; django.setup(); import identity.urls; from django.contrib import admin; "
        "admin.autodiscover(); from django.core import checks; checks.run_checks(); "
        "print(sorted(name for name in ('saml2.sigver', 'saml2.server', 'saml2.config') if name in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip().splitlines()[-1] == "[]"
