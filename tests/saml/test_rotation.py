"""Certificate rotation as an SP sees it: a staged certificate is published before it signs, so an SP
that refreshed the metadata in between keeps verifying; one that never refreshed stops."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from saml2.sigver import SignatureError

from saml import idp
from saml.registration import register
from tests.saml.pages import posted, sign_on
from tests.saml.service_provider import ServiceProvider


def metadata() -> str:
    return Client().get("/saml/metadata/").content.decode()


def certificates_in(xml: str) -> int:
    return xml.count("X509Certificate>") // 2  # an opening and a closing tag each, whatever the prefix


@pytest.fixture(autouse=True)
def private_keyset(saml_keys_file, monkeypatch):
    monkeypatch.setattr(idp, "_cache", {})
    return saml_keys_file


def test_a_staged_certificate_is_published_then_signs_after_activation(db, signed_in_client):
    before = metadata()
    stale_sp = ServiceProvider(base_url="https://old.example.com", idp_metadata=before)
    register("Old", stale_sp.metadata_xml())

    call_command("rotate_saml_certificate", "--stage", stdout=StringIO())
    staged = metadata()
    assert certificates_in(staged) == certificates_in(before) + 1  # the next one, published, not signing
    fresh_sp = ServiceProvider(base_url="https://fresh.example.com", idp_metadata=staged)
    register("Fresh", fresh_sp.metadata_xml())
    request_id, page = sign_on(signed_in_client, stale_sp)
    assert stale_sp.parse_response(posted(page)["SAMLResponse"], request_id).name_id  # still the old signer

    call_command("rotate_saml_certificate", "--activate", stdout=StringIO())
    request_id, page = sign_on(signed_in_client, fresh_sp)
    assert fresh_sp.parse_response(posted(page)["SAMLResponse"], request_id).name_id  # it had the new one
    request_id, page = sign_on(signed_in_client, stale_sp)
    with pytest.raises(SignatureError):
        stale_sp.parse_response(posted(page)["SAMLResponse"], request_id)  # it never refreshed


def test_the_metadata_advertises_only_strong_algorithms(db):
    import re

    advertised = set(re.findall(r'Algorithm="([^"]+)"', metadata()))
    assert advertised and all(algorithm.endswith(("sha256", "sha384", "sha512")) for algorithm in advertised)
