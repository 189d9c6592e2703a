"""Attacks on SP-initiated Single Logout: unsigned, someone else's, replayed, stale."""

from __future__ import annotations

import re

from django.test import Client
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NameID
from saml2.xmldsig import SIG_RSA_SHA1

from saml.models import NAMEID_EMAIL, SignOn
from tests.saml.service_provider import POST, REDIRECT
from tests.saml.test_attacks import answered, assert_refused, local, saml_time
from tests.users import PASSWORD


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def sign_on(sp, client):
    request_id, url = sp.redirect_request()
    return sp.parse_response(answered(client, client.get(local(url)))["SAMLResponse"], request_id)


def browser(make_user, email: str) -> Client:
    make_user(email)
    client = Client(raise_request_exception=False)
    assert client.post("/accounts/login/", {"email": email, "password": PASSWORD}).status_code == 302
    return client


def logout_xml(sp, name_id: str, session_index: str | None, *, name_id_format: str | None = None) -> str:
    _, request = sp.client.create_logout_request(
        sp._idp_slo(REDIRECT),  # noqa: SLF001
        sp.idp_entity_id,
        name_id=NameID(text=name_id, format=name_id_format or sp.name_id_format),
        session_indexes=[session_index] if session_index else None,
        sign=False,
    )
    return str(request)


def test_a_genuine_logout_request_signs_this_browser_out(make_sp, signed_in_client):
    """The baseline the refusals below are measured against."""
    sp = make_sp(sign_requests=True)
    got = sign_on(sp, signed_in_client)
    _, url, _ = sp.logout_request(got.name_id, got.session_index)
    response = signed_in_client.get(local(url))
    assert response.status_code == 302 and response["Location"].startswith(sp.slo_url)
    assert not signed_in(signed_in_client)


def test_an_unsigned_logout_request_from_a_signing_sp_is_refused(make_sp, signed_in_client):
    sp = make_sp(sign_requests=True)
    got = sign_on(sp, signed_in_client)
    _, url, _ = sp.logout_request(got.name_id, got.session_index, sign=False)
    assert "Signature=" not in url
    assert_refused(signed_in_client.get(local(url)))
    _, action, fields = sp.logout_request(got.name_id, got.session_index, POST, sign=False)
    assert_refused(signed_in_client.post(local(action), fields))
    assert signed_in(signed_in_client)
    assert SignOn.objects.get(session_index=got.session_index).ended_at is None


def test_a_logout_redirect_signature_with_rsa_sha1_is_refused(make_sp, signed_in_client):
    sp = make_sp(sign_requests=True)
    got = sign_on(sp, signed_in_client)
    xml = logout_xml(sp, got.name_id, got.session_index)
    info = sp.client.apply_binding(REDIRECT, xml, sp._idp_slo(REDIRECT), "", sign=True, sigalg=SIG_RSA_SHA1)  # noqa: SLF001
    assert_refused(signed_in_client.get(local(dict(info["headers"])["Location"])))
    assert signed_in(signed_in_client)


def test_a_logout_request_naming_someone_else_signs_nobody_out(sp, make_user):
    victim, attacker = browser(make_user, "victim@example.com"), browser(make_user, "mallory@example.com")
    theirs = sign_on(sp, victim)
    sign_on(sp, attacker)
    _, url, _ = sp.logout_request(theirs.name_id, theirs.session_index)
    response = attacker.get(local(url))
    assert response.status_code in (200, 302)
    assert signed_in(attacker)
    assert signed_in(victim)


def test_a_replayed_logout_request_is_refused(make_sp, make_user):
    sp = make_sp(sign_requests=True)
    ada = browser(make_user, "ada@example.com")
    got = sign_on(sp, ada)
    _, url, _ = sp.logout_request(got.name_id, got.session_index)
    assert ada.get(local(url)).status_code == 302
    assert_refused(ada.get(local(url)), "replay")
    assert_refused(browser(make_user, "grace@example.com").get(local(url)), "replay")


def test_a_stale_logout_request_is_refused(sp, signed_in_client):
    """Its ID is remembered only as long as a fresh request could arrive: an older one (a captured request
    replayed after that) must be refused by its IssueInstant."""
    got = sign_on(sp, signed_in_client)
    xml = logout_xml(sp, got.name_id, got.session_index)
    xml = re.sub(r' IssueInstant="[^"]*"', f' IssueInstant="{saml_time(-3600)}"', xml, count=1)
    assert_refused(signed_in_client.get(local(sp.redirect_url(xml, destination=sp._idp_slo(REDIRECT)))), "stale")  # noqa: SLF001
    assert signed_in(signed_in_client)


def test_a_logout_request_for_another_identity_provider_is_refused(sp, signed_in_client):
    got = sign_on(sp, signed_in_client)
    xml = logout_xml(sp, got.name_id, got.session_index)
    xml = re.sub(r' Destination="[^"]*"', ' Destination="https://other-idp.example.com/slo/"', xml, count=1)
    assert_refused(signed_in_client.get(local(sp.redirect_url(xml, destination=sp._idp_slo(REDIRECT)))))  # noqa: SLF001
    assert signed_in(signed_in_client)


def test_a_forged_logout_naming_a_known_email_without_session_index_does_not_sign_the_victim_out(
    make_sp, signed_in_client, user
):
    """Logout CSRF: with the email format the NameID is no secret, and an SP that does not sign lets anyone
    write its LogoutRequest. Only the SessionIndex (random, given to that SP alone) shows the request comes
    from the SP; without it the victim's browser must not be signed out by a link."""
    sp = make_sp(name_id_format=NAMEID_FORMAT_EMAILADDRESS, settings={"name_id_format": NAMEID_EMAIL})
    sign_on(sp, signed_in_client)
    forged = logout_xml(sp, user.email, None, name_id_format=NAMEID_EMAIL)
    signed_in_client.get(local(sp.redirect_url(forged, destination=sp._idp_slo(REDIRECT))))  # noqa: SLF001
    assert signed_in(signed_in_client)
