"""The SAML review's findings: each test attacks what the review found open, and failed until it was fixed."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone
from saml2.response import StatusNoAuthnContext

from tests.saml.pages import follow, local, posted
from tests.saml.service_provider import REDIRECT, ServiceProvider

SSO = "/saml/sso/"
PPT = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"


def send_redirect(client, xml: str):
    return client.get(SSO, {"SAMLRequest": ServiceProvider.deflate_and_encode(xml)})


def set_factors(client, *factors):
    from accounts.signin_state import AUTH_METHODS

    session = client.session
    session[AUTH_METHODS] = [{"method": m, "at": int(time.time())} for m in factors]
    session.save()


# --- 1: an IdP-initiated sign-on token answers again and again (no single use, no rate limit) ---------


def test_an_idp_initiated_token_gives_one_assertion_only(make_sp, signed_in_client, user):
    from accounts.models import SecurityEvent
    from saml.models import SignOn

    sp = make_sp(settings={"idp_initiated": True}, allow_unsolicited=True)
    page_url = signed_in_client.get(f"/saml/start/{sp.registered.pk}/")["Location"]
    assert "SAMLResponse" in posted(signed_in_client.get(page_url))
    for _ in range(24):
        assert "SAMLResponse" not in posted(signed_in_client.get(page_url))  # answered once
    assert SignOn.objects.filter(user=user).count() <= 1, SignOn.objects.filter(user=user).count()
    assert SecurityEvent.objects.filter(user=user, kind=SecurityEvent.Kind.APP_SIGNED_IN).count() <= 1


def test_reloading_a_refused_sign_on_page_does_not_fill_the_audit_trail(sp, signed_in_client, user):
    from accounts.models import SecurityEvent

    _id, url = sp.redirect_request(authn_context=["urn:example:smartcard"], comparison="exact")
    page_url = signed_in_client.get(local(url))["Location"]
    for _ in range(200):
        signed_in_client.get(page_url)
    count = SecurityEvent.objects.filter(user=user, kind=SecurityEvent.Kind.APP_REFUSED).count()
    assert count <= 130, count  # saml-ip is 120/m; the sign-on page has no limit at all


# --- 2: the AuthnContextClassRef says a password was used when none was --------------------------------


@pytest.mark.parametrize("methods", [("fed",), ("passkey",)])
def test_password_protected_transport_is_not_claimed_without_a_password(sp, signed_in_client, methods):
    set_factors(signed_in_client, *methods)
    request_id, url = sp.redirect_request(authn_context=[PPT], comparison="exact")
    page = follow(signed_in_client, url)
    with pytest.raises(StatusNoAuthnContext):  # exact: one of those requested, or none at all
        sp.parse_response(posted(page)["SAMLResponse"], request_id)


# --- 3: an SP's metadata past its validUntil: 500 on every request ------------------------------------


def test_metadata_past_its_valid_until_is_refused_not_a_500(sp, client):
    from saml.models import ServiceProvider as Model

    xml = sp.metadata_xml().replace(
        "<md:EntityDescriptor ", '<md:EntityDescriptor validUntil="2001-01-01T00:00:00Z" ', 1
    )
    assert 'validUntil="2001' in xml
    Model.objects.filter(pk=sp.registered.pk).update(metadata_xml=xml, updated_at=timezone.now())
    _id, url = sp.redirect_request()
    response = client.get(local(url))
    assert response.status_code in (400, 404, 503), response.status_code


# --- 4: odd but schema-valid requests from an unsigned SP: 500s --------------------------------------


@pytest.mark.parametrize(
    "old,new",
    [
        # an empty AuthnContextClassRef
        ("__CLASS__", "__EMPTY_CLASS__"),
        # an IssueInstant with an offset instead of Z
        ("__INSTANT__", "__INSTANT_OFFSET__"),
        # an Issuer with a child element
        ("__ISSUER__", "__ISSUER_CHILD__"),
    ],
)
def test_odd_requests_are_our_400_never_a_500(sp, client, old, new):
    import re

    _id, xml = sp.authn_request_xml(REDIRECT, authn_context=["urn:example:x"], comparison="exact")
    if old == "__INSTANT__":
        stamp = re.search(r'IssueInstant="([^"]+)"', xml).group(1)
        xml = xml.replace(stamp, stamp.rstrip("Z") + "+00:00")
    elif old == "__ISSUER__":  # whatever prefix pysaml2 gave the assertion namespace
        xml, found = re.subn(r"(<(\w+):Issuer[^>]*>)([^<]+)(</\2:Issuer>)", r"\1<\2:X/>\3\4", xml)
        assert found, xml
    else:
        xml, found = re.subn(
            r"<(\w+):AuthnContextClassRef>urn:example:x</\1:AuthnContextClassRef>", r"<\1:AuthnContextClassRef/>", xml
        )
        assert found, xml
    response = send_redirect(client, xml)
    assert response.status_code in (303, 400), (response.status_code, xml)
    if response.status_code == 303:
        follow(client, response["Location"])


# --- 5: an anonymous oracle: does this email have a live sign-on at this SP? -------------------------


def test_a_forged_logout_request_does_not_tell_anyone_whether_an_email_is_signed_on(make_sp, signed_in_client, user):
    from urllib.parse import parse_qs, urlsplit

    from django.test import Client
    from saml2.saml import NAMEID_FORMAT_EMAILADDRESS

    from saml.models import NAMEID_EMAIL
    from tests.saml.test_logout_attacks import logout_xml, sign_on

    sp = make_sp(name_id_format=NAMEID_FORMAT_EMAILADDRESS, settings={"name_id_format": NAMEID_EMAIL})
    sign_on(sp, signed_in_client)

    def status_for(email: str) -> str:
        attacker = Client(raise_request_exception=False)  # no session at all
        forged = logout_xml(sp, email, None, name_id_format=NAMEID_EMAIL)
        answer = attacker.get(local(sp.redirect_url(forged, destination=sp._idp_slo(REDIRECT))))  # noqa: SLF001
        assert answer.status_code == 302, answer.status_code
        query = parse_qs(urlsplit(answer["Location"]).query)
        from saml2.s_utils import decode_base64_and_inflate

        return decode_base64_and_inflate(query["SAMLResponse"][0]).decode()

    live, nobody = status_for(user.email), status_for("nobody@example.com")
    assert ("PartialLogout" in live) == ("PartialLogout" in nobody), "the answer tells a live sign-on apart"


# --- 6: SLO endpoints are not held to the ACS rule (https, or http on loopback) ----------------------


def test_an_slo_endpoint_in_plain_http_to_an_internal_host_is_refused(idp_metadata):
    from saml.metadata import MetadataProblem, describe

    sp = ServiceProvider(base_url="https://wiki.example.com", idp_metadata=idp_metadata, soap_slo=True)
    xml = sp.metadata_xml().replace("https://wiki.example.com/slo/soap/", "http://169.254.169.254/latest/")
    assert "169.254" in xml
    with pytest.raises(MetadataProblem):
        describe(xml)


# --- 7: the admin form re-points an app to another entity id, keeping its pairwise NameIDs ----------


def test_an_admin_edit_cannot_give_an_apps_pairwise_ids_to_another_entity(sp, idp_metadata):
    from saml.admin import ServiceProviderForm

    other = ServiceProvider(base_url="https://evil.example.net", idp_metadata=idp_metadata)
    instance = sp.registered
    form = ServiceProviderForm(
        data={"metadata_xml": other.metadata_xml(), "name_id_format": instance.name_id_format, "release_email": "on"},
        instance=instance,
    )
    assert not form.is_valid(), f"the entity id changed from {sp.entity_id} to {form.instance.entity_id}"
