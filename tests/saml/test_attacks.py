"""Attacks on SAML sign-on (issue 17, "Security"): each test is an attacker trying something, and checks it
fails the right way. A request we cannot trust is answered with our own 400 page: never a redirect, never
a form posting a SAMLResponse anywhere."""

from __future__ import annotations

import base64
import calendar
import re
import time
import zlib
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from defusedxml.ElementTree import fromstring
from saml2 import BINDING_HTTP_ARTIFACT
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS
from saml2.xmldsig import DIGEST_SHA1, SIG_RSA_SHA1, SIG_RSA_SHA256

from saml.app_settings import app_settings
from saml.models import NAMEID_EMAIL
from saml.registration import register
from tests.saml.pages import follow as follow_to_sp
from tests.saml.pages import posted
from tests.saml.service_provider import POST, REDIRECT, ServiceProvider

SSO = "/saml/sso/"
OTHER_ACS = "https://wiki.example.com/other-acs/"
PROTOCOL = "{urn:oasis:names:tc:SAML:2.0:protocol}"
ASSERTION = "{urn:oasis:names:tc:SAML:2.0:assertion}"


def local(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def assert_refused(response, reason: str | None = None) -> None:
    """Our page, 400, nothing sent on: no Location, no SAMLResponse form."""
    body = response.content.decode()
    assert response.status_code == 400, body[:500]
    assert "Location" not in response
    assert "SAMLResponse" not in body
    if reason:
        assert f"<code>{reason}</code>" in body, body[:2000]


def send_redirect(client, xml: str):
    """An unsigned HTTP-Redirect request carrying `xml` as it is."""
    return client.get(SSO, {"SAMLRequest": ServiceProvider.deflate_and_encode(xml)})


def send_post(client, xml: str):
    return client.post(SSO, ServiceProvider.post_fields(xml))


def sign_on_url(response) -> str:
    assert response.status_code == 303, response.content[:500]
    return response["Location"]


def answered(client, response) -> dict:
    """Follow a checked request to the sign-on page: the fields posted to the SP."""
    page = follow_to_sp(client, sign_on_url(response))
    assert page.status_code == 200, page.content[:500]
    return posted(page)


def saml_time(offset: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset))


def with_attribute(xml: str, name: str, value: str | None) -> str:
    """`xml` with the root's attribute `name` set to `value` (or removed)."""
    pattern = rf' {name}="[^"]*"'
    if value is None:
        return re.sub(pattern, "", xml, count=1)
    if re.search(pattern, xml):
        return re.sub(pattern, f' {name}="{value}"', xml, count=1)
    return re.sub(r"(<(?:\w+:)?AuthnRequest )", rf'\1{name}="{value}" ', xml, count=1)


@pytest.fixture
def signing_sp(make_sp):
    return make_sp(sign_requests=True)


@pytest.fixture
def two_acs_sp(idp_metadata):
    """A signing SP whose metadata lists a second HTTP-POST ACS and an Artifact one: a request naming either
    only gets past the signature check (or the binding check) if something is wrong."""
    sp = ServiceProvider(base_url="https://wiki.example.com", idp_metadata=idp_metadata, sign_requests=True)
    extra = (
        f'<md:AssertionConsumerService Binding="{POST}" Location="{OTHER_ACS}" index="2" />'
        f'<md:AssertionConsumerService Binding="{BINDING_HTTP_ARTIFACT}" '
        'Location="https://wiki.example.com/artifact/" index="3" />'
    )
    sp.registered = register(
        "Wiki", sp.metadata_xml().replace("</md:SPSSODescriptor>", extra + "</md:SPSSODescriptor>")
    )
    return sp


# --- who may ask, and where the answer may go --------------------------------------------------------


def test_a_request_from_an_unknown_entity_is_refused(idp_metadata, client, sp):
    stranger = ServiceProvider(base_url="https://evil.example.com", idp_metadata=idp_metadata)
    _, url = stranger.redirect_request()
    assert_refused(client.get(local(url)), "unknown_sp")
    _, action, fields = stranger.post_request()
    assert_refused(client.post(local(action), fields), "unknown_sp")


@pytest.mark.parametrize("binding", [REDIRECT, POST])
def test_an_acs_url_not_in_the_metadata_is_refused(sp, signed_in_client, binding):
    _, xml = sp.authn_request_xml(binding, assertion_consumer_service_url="https://evil.example.com/acs/")
    send = send_redirect if binding == REDIRECT else send_post
    assert_refused(send(signed_in_client, xml), "unregistered_acs")


def test_an_acs_url_that_merely_starts_like_the_registered_one_is_refused(sp, signed_in_client):
    for url in (
        "https://wiki.example.com/acs/../evil",
        "https://wiki.example.com/acs/x",
        "https://wiki.example.com/acs",
    ):
        _, xml = sp.authn_request_xml(assertion_consumer_service_url=url)
        assert_refused(send_redirect(signed_in_client, xml), "unregistered_acs")


def test_an_acs_index_not_in_the_metadata_is_refused(sp, signed_in_client):
    _, xml = sp.authn_request_xml(assertion_consumer_service_index="7")
    assert 'AssertionConsumerServiceIndex="7"' in xml
    assert_refused(send_redirect(signed_in_client, xml), "unregistered_acs")


def test_an_acs_registered_for_another_binding_is_refused(two_acs_sp, signed_in_client):
    """The Artifact ACS is in the metadata, but responses go by HTTP-POST only: by URL or by index."""
    _, url = two_acs_sp.redirect_request(assertion_consumer_service_url="https://wiki.example.com/artifact/")
    assert_refused(signed_in_client.get(local(url)), "unregistered_acs")
    _, url = two_acs_sp.redirect_request(assertion_consumer_service_index="3")
    assert_refused(signed_in_client.get(local(url)), "unregistered_acs")


def test_a_registered_acs_by_index_is_where_the_answer_goes(two_acs_sp, signed_in_client):
    _, url = two_acs_sp.redirect_request(assertion_consumer_service_index="2")
    page = follow_to_sp(signed_in_client, local(url))
    assert f'action="{OTHER_ACS}"' in page.content.decode()


@pytest.mark.parametrize(
    "protocol_binding", [REDIRECT, BINDING_HTTP_ARTIFACT, "urn:oasis:names:tc:SAML:2.0:bindings:PAOS"]
)
def test_a_protocol_binding_other_than_post_is_refused(sp, signed_in_client, protocol_binding):
    _, xml = sp.authn_request_xml()
    xml = with_attribute(xml, "ProtocolBinding", protocol_binding)
    assert_refused(send_redirect(signed_in_client, xml), "unsupported_binding")


# --- replay ---------------------------------------------------------------------------------------------


def test_the_same_request_twice_is_refused_the_second_time(sp, signed_in_client):
    request_id, url = sp.redirect_request()
    first = signed_in_client.get(local(url))
    assert first.status_code == 303
    assert_refused(signed_in_client.get(local(url)), "replay")
    # Also as a fresh POST with the same ID.
    _, xml = sp.authn_request_xml(POST)
    _, xml_again = sp.authn_request_xml(POST, message_id=request_id)
    assert f'ID="{request_id}"' in xml_again
    assert_refused(send_post(signed_in_client, xml_again), "replay")
    assert sp.parse_response(answered(signed_in_client, first)["SAMLResponse"], request_id)


def test_reloading_the_sign_on_page_gives_no_second_assertion(sp, signed_in_client):
    request_id, url = sp.redirect_request()
    page = sign_on_url(signed_in_client.get(local(url)))
    assert "SAMLResponse" in posted(signed_in_client.get(page))
    again = signed_in_client.get(page)
    assert_refused(again, "replay")


def test_the_sign_on_page_token_cannot_be_forged(sp, signed_in_client):
    _, url = sp.redirect_request()
    page = sign_on_url(signed_in_client.get(local(url)))
    token = parse_qs(urlsplit(page).query)["request"][0]
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    assert_refused(signed_in_client.get("/saml/sign-on/?" + urlencode({"request": forged})), "expired")


# --- signed requests ------------------------------------------------------------------------------------


def test_an_unsigned_redirect_request_from_a_signing_sp_is_refused(signing_sp, signed_in_client):
    _, url = signing_sp.redirect_request(sign=False)
    assert "Signature=" not in url
    assert_refused(signed_in_client.get(local(url)), "bad_signature")


def test_an_unsigned_post_request_from_a_signing_sp_is_refused(signing_sp, signed_in_client):
    _, action, fields = signing_sp.post_request(sign=False)
    assert_refused(signed_in_client.post(local(action), fields), "bad_signature")


def test_a_signing_sp_s_signed_requests_are_accepted(signing_sp, signed_in_client):
    """The baseline the refusals below are measured against."""
    request_id, url = signing_sp.redirect_request()
    assert signing_sp.parse_response(answered(signed_in_client, signed_in_client.get(local(url)))["SAMLResponse"])
    request_id, action, fields = signing_sp.post_request()
    response = signed_in_client.post(local(action), fields)
    assert signing_sp.parse_response(answered(signed_in_client, response)["SAMLResponse"], request_id)


@pytest.mark.parametrize("binding", [REDIRECT, POST])
def test_a_signature_by_another_key_is_refused(signing_sp, idp_metadata, signed_in_client, binding):
    impostor = ServiceProvider(base_url="https://wiki.example.com", idp_metadata=idp_metadata, sign_requests=True)
    assert impostor.entity_id == signing_sp.entity_id
    if binding == REDIRECT:
        _, url = impostor.redirect_request()
        response = signed_in_client.get(local(url))
    else:
        _, action, fields = impostor.post_request()
        response = signed_in_client.post(local(action), fields)
    assert_refused(response, "bad_signature")


def test_a_signed_post_request_with_the_acs_changed_afterwards_is_refused(two_acs_sp, signed_in_client):
    _, xml = two_acs_sp.authn_request_xml(POST)
    tampered = xml.replace(
        'AssertionConsumerServiceURL="https://wiki.example.com/acs/"', f'AssertionConsumerServiceURL="{OTHER_ACS}"'
    )
    assert tampered != xml
    assert_refused(send_post(signed_in_client, tampered), "bad_signature")


def test_a_signed_redirect_request_with_the_acs_changed_afterwards_is_refused(two_acs_sp, signed_in_client):
    _, xml = two_acs_sp.authn_request_xml(REDIRECT)
    query = parse_qs(urlsplit(two_acs_sp.redirect_url(xml)).query)
    tampered = xml.replace(
        'AssertionConsumerServiceURL="https://wiki.example.com/acs/"', f'AssertionConsumerServiceURL="{OTHER_ACS}"'
    )
    query["SAMLRequest"] = [ServiceProvider.deflate_and_encode(tampered)]
    assert_refused(signed_in_client.get(SSO, {key: values[0] for key, values in query.items()}), "bad_signature")


def test_a_redirect_signature_with_rsa_sha1_is_refused(signing_sp, signed_in_client):
    _, xml = signing_sp.authn_request_xml(REDIRECT)
    destination = signing_sp.client.sso_location(signing_sp.idp_entity_id, REDIRECT)
    info = signing_sp.client.apply_binding(REDIRECT, xml, destination, "", sign=True, sigalg=SIG_RSA_SHA1)
    url = dict(info["headers"])["Location"]
    assert "rsa-sha1" in url
    assert_refused(signed_in_client.get(local(url)), "weak_signature")


@pytest.mark.parametrize(("sign_alg", "digest_alg"), [(SIG_RSA_SHA1, DIGEST_SHA1), (SIG_RSA_SHA256, DIGEST_SHA1)])
def test_an_embedded_sha1_signature_is_refused(signing_sp, signed_in_client, sign_alg, digest_alg):
    """As for the query string's SigAlg: SHA-1 is not accepted in a POST request's XML signature either."""
    destination = signing_sp.client.sso_location(signing_sp.idp_entity_id, POST)
    _, request = signing_sp.client.create_authn_request(
        destination, sign=True, sign_alg=sign_alg, digest_alg=digest_alg, nameid_format=signing_sp.name_id_format
    )
    assert digest_alg in str(request)
    assert_refused(send_post(signed_in_client, str(request)))


def _without_declaration(xml: str) -> str:
    return re.sub(r"^<\?xml[^>]*\?>\s*", "", xml)


# pysaml2's prefixes (ns0, samlp, ...) depend on what ElementTree registered before: match any.
ISSUER_END = re.compile(r"</(?:\w+:)?Issuer>")


def _prefix(xml: str, local_name: str) -> str:
    """The prefix (with its colon, or "") `xml` uses for its first `local_name` element."""
    return re.search(rf"<(\w+:)?{local_name}[ >]", xml).group(1) or ""


def _after_issuer(xml: str, insert: str) -> str:
    changed, count = ISSUER_END.subn(lambda match: match.group(0) + insert, xml, count=1)
    assert count == 1
    return changed


def _signature_of(xml: str) -> str:
    dsig = _prefix(xml, "Signature")
    return re.search(rf"<{dsig}Signature[ >].*?</{dsig}Signature>", xml, re.S).group(0)


def _wrapped(outer: str, inner: str) -> str:
    """`inner` (a whole AuthnRequest, its namespaces declared on itself) put in `outer`'s Extensions, right
    after its Issuer."""
    protocol = _prefix(outer, "AuthnRequest")
    return _after_issuer(outer, f"<{protocol}Extensions>{_without_declaration(inner)}</{protocol}Extensions>")


@pytest.mark.parametrize("same_id", [False, True])
def test_a_signed_request_wrapped_in_an_unsigned_one_is_refused(two_acs_sp, signed_in_client, same_id):
    """XSW: the SP's genuinely signed request sits in the Extensions of the attacker's unsigned one, which
    names another ACS (and another ID, or the same)."""
    signed_id, signed = two_acs_sp.authn_request_xml(POST)
    _, outer = two_acs_sp.authn_request_xml(POST, sign=False, assertion_consumer_service_url=OTHER_ACS)
    if same_id:
        outer = with_attribute(outer, "ID", signed_id)
    attack = _wrapped(outer, signed)
    fromstring(attack)  # well-formed
    assert_refused(send_post(signed_in_client, attack))


def test_a_signature_moved_onto_the_attackers_request_is_refused(two_acs_sp, signed_in_client):
    """XSW: the attacker's request (another ID and ACS) carries the SP's signature, whose Reference still
    points at the genuine request, now tucked into the Extensions without its signature (so its digest holds)."""
    signed_id, signed = two_acs_sp.authn_request_xml(POST)
    signature = _signature_of(signed)
    genuine = signed.replace(signature, "")
    _, outer = two_acs_sp.authn_request_xml(POST, sign=False, assertion_consumer_service_url=OTHER_ACS)
    outer = _after_issuer(outer, signature)
    dsig = _prefix(signed, "Signature").rstrip(":")
    if dsig and f'xmlns:{dsig}="' not in outer:
        outer = re.sub(
            r"(<(?:\w+:)?AuthnRequest )", rf'\1xmlns:{dsig}="http://www.w3.org/2000/09/xmldsig#" ', outer, count=1
        )
    attack = _wrapped(outer, genuine)
    fromstring(attack)
    assert f'URI="#{signed_id}"' in attack
    assert_refused(send_post(signed_in_client, attack))


def test_a_signed_request_moved_into_a_redirect_with_no_query_signature_is_refused(two_acs_sp, signed_in_client):
    """Over Redirect only the query-string signature counts: an XML-embedded one (even genuine) is not enough."""
    _, signed = two_acs_sp.authn_request_xml(POST)
    assert_refused(send_redirect(signed_in_client, signed), "bad_signature")


# --- comment truncation ---------------------------------------------------------------------------------


def _with_issuer(xml: str, issuer: str) -> str:
    changed, count = re.subn(r"(<(?:\w+:)?Issuer[^>]*>)[^<]*(</(?:\w+:)?Issuer>)", rf"\g<1>{issuer}\g<2>", xml, count=1)
    assert count == 1
    return changed


@pytest.mark.parametrize("binding", [REDIRECT, POST])
def test_a_comment_in_the_issuer_does_not_cut_it_down_to_a_registered_sp(sp, idp_metadata, signed_in_client, binding):
    evil = ServiceProvider(base_url="https://wiki.example.com/metadata/.evil", idp_metadata=idp_metadata)
    _, xml = evil.authn_request_xml(binding)
    xml = _with_issuer(xml, "https://wiki.example.com/metadata/<!---->.evil")
    send = send_redirect if binding == REDIRECT else send_post
    assert_refused(send(signed_in_client, xml), "unknown_sp")


def test_a_comment_inside_a_registered_id_gives_no_way_around_its_signature(signing_sp, signed_in_client):
    """The reverse: the registered id with a comment in it. Whichever way it is read, it is this SP, whose
    requests must be signed; an unsigned one is refused."""
    _, xml = signing_sp.authn_request_xml(POST, sign=False)
    xml = _with_issuer(xml, "https://wiki.example.com/<!---->metadata/")
    assert_refused(send_post(signed_in_client, xml))
    assert_refused(send_redirect(signed_in_client, xml))


def test_a_comment_inside_a_registered_id_of_an_unsigned_sp_still_means_that_sp(sp, signed_in_client):
    """Both readings agree (pysaml2's and ours): the request is the registered SP's, answered at its own ACS."""
    request_id, xml = sp.authn_request_xml(REDIRECT)
    xml = _with_issuer(xml, "https://wiki.example.com/<!---->metadata/")
    response = send_redirect(signed_in_client, xml)
    if response.status_code == 400:
        assert_refused(response)
        return
    assert sp.parse_response(answered(signed_in_client, response)["SAMLResponse"], request_id)


# --- hostile XML ----------------------------------------------------------------------------------------

LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">'
    '<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>'
)


def _hostile(sp, kind: str) -> str:
    _, xml = sp.authn_request_xml()
    body = _without_declaration(xml)
    if kind == "dtd":
        return '<?xml version="1.0"?><!DOCTYPE foo [<!ELEMENT foo ANY>]>' + body
    if kind == "laughs":
        return LAUGHS + _with_issuer(body, "https://wiki.example.com/metadata/&lol4;")
    if kind == "external":
        return '<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' + _with_issuer(
            body, "&xxe;"
        )
    if kind == "parameter":
        return '<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY % xxe SYSTEM "http://127.0.0.1:9/evil.dtd"> %xxe;]>' + body
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["dtd", "laughs", "external", "parameter"])
@pytest.mark.parametrize("binding", [REDIRECT, POST])
def test_xml_with_a_dtd_or_entities_is_refused(sp, client, kind, binding):
    xml = _hostile(sp, kind)
    response = send_redirect(client, xml) if binding == REDIRECT else send_post(client, xml)
    assert_refused(response, "malformed")
    assert "root:" not in response.content.decode()


# --- time and destination -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (-(300 + 120 + 30), False),  # older than SAML_REQUEST_LIFETIME + skew
        (-3600, False),
        (120 + 30, False),  # further in the future than the skew
        (86400, False),
        (-(300 + 100), True),  # old, but within lifetime + skew
        (100, True),  # ahead, but within the skew
    ],
)
def test_issue_instant_is_bounded(sp, signed_in_client, offset, accepted):
    _, xml = sp.authn_request_xml()
    xml = with_attribute(xml, "IssueInstant", saml_time(offset))
    response = send_redirect(signed_in_client, xml)
    if accepted:
        assert response.status_code == 303, response.content[:500]
    else:
        assert_refused(response, "stale")


def test_issue_instant_is_read_as_utc_whatever_the_local_time_zone(sp, signed_in_client, monkeypatch):
    """IssueInstant is UTC: a process whose local zone keeps summer time must not shift the window by an hour
    (Django sets TZ from TIME_ZONE, and a deployment may set its own). Guards against time.mktime on a
    tuple whose isdst is unknown."""
    for zone in ("Europe/Berlin", "America/New_York", "Australia/Sydney", "America/Santiago"):
        monkeypatch.setenv("TZ", zone)
        time.tzset()
        if time.localtime().tm_isdst > 0:
            break
    else:
        pytest.skip("no zone with summer time today")
    try:
        _, xml = sp.authn_request_xml()
        assert send_redirect(signed_in_client, with_attribute(xml, "IssueInstant", saml_time(0))).status_code == 303
        _, xml = sp.authn_request_xml()
        assert_refused(send_redirect(signed_in_client, with_attribute(xml, "IssueInstant", saml_time(3600))), "stale")
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_request_for_another_identity_provider_is_refused(sp, signed_in_client):
    _, xml = sp.authn_request_xml()
    xml = with_attribute(xml, "Destination", "https://other-idp.example.com/saml/sso/")
    assert_refused(send_redirect(signed_in_client, xml))


def test_a_signed_request_without_destination_is_refused(signing_sp, signed_in_client):
    _, xml = signing_sp.authn_request_xml(REDIRECT)
    xml = with_attribute(xml, "Destination", None)
    assert "Destination=" not in xml
    url = signing_sp.redirect_url(xml)  # signed, over the query string, as it is
    assert_refused(signed_in_client.get(local(url)), "invalid")


# --- garbage --------------------------------------------------------------------------------------------


def _bomb() -> str:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = compressor.compress(b"<" + b" " * (20 * 1024 * 1024)) + compressor.flush()
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(
    ("method", "value", "reason"),
    [
        ("get", "A" * (70 * 1024), "too_large"),
        ("post", "A" * (70 * 1024), "too_large"),
        ("get", _bomb(), "too_large"),
        ("get", "!!!not base64 at all!!!", "malformed"),
        ("post", "!!!not base64 at all!!!", "malformed"),
        ("get", "ünïcödé", "malformed"),
        ("post", "ünïcödé", "malformed"),
        ("post", base64.b64encode(b"hello, not XML").decode(), "malformed"),
        ("get", ServiceProvider.deflate_and_encode("hello, not XML"), "malformed"),
        ("post", base64.b64encode(b"\xff\xfe\x00<\x00a\x00>").decode(), "malformed"),
        ("post", base64.b64encode(b"<a>" * 5000).decode(), "malformed"),
        ("get", "", "malformed"),
    ],
)
def test_garbage_is_our_400_page_never_a_500(client, sp, method, value, reason):
    response = getattr(client, method)(SSO, {"SAMLRequest": value})
    assert_refused(response, reason)


@pytest.mark.parametrize(
    "root",
    [
        '<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
        'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="x" Version="2.0" IssueInstant="{now}">'
        "<saml:Issuer>https://wiki.example.com/metadata/</saml:Issuer></samlp:LogoutRequest>",
        '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
        'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="x" Version="2.0" IssueInstant="{now}">'
        "<saml:Issuer>https://wiki.example.com/metadata/</saml:Issuer></samlp:Response>",
        '<AuthnRequest xmlns="urn:example:not-saml" ID="x"><Issuer>https://wiki.example.com/metadata/</Issuer>'
        "</AuthnRequest>",
    ],
)
def test_a_wrong_root_element_is_refused(sp, client, root):
    xml = root.format(now=saml_time(0))
    assert_refused(send_redirect(client, xml), "malformed")
    assert_refused(send_post(client, xml), "malformed")


def test_a_request_with_no_issuer_is_refused(sp, client):
    _, xml = sp.authn_request_xml()
    xml, count = re.subn(r"<(?:\w+:)?Issuer[^>]*>[^<]*</(?:\w+:)?Issuer>", "", xml)
    assert count == 1
    assert_refused(send_redirect(client, xml), "malformed")


def test_an_overlong_relay_state_is_refused(sp, client):
    _, url = sp.redirect_request(relay_state="x" * 2000)
    assert_refused(client.get(local(url)), "malformed")


# --- the response ---------------------------------------------------------------------------------------


def _raw(fields: dict) -> str:
    return base64.b64decode(fields["SAMLResponse"]).decode()


def _epoch(value: str) -> float:
    return calendar.timegm(time.strptime(value.split(".")[0].rstrip("Z"), "%Y-%m-%dT%H:%M:%S"))


def test_the_response_is_bound_to_the_request_the_sp_and_its_acs(sp, signed_in_client):
    request_id, url = sp.redirect_request()
    fields = answered(signed_in_client, signed_in_client.get(local(url)))
    sign_on = sp.parse_response(fields["SAMLResponse"], request_id)  # signatures verified, SHA-256 only
    assert sign_on.in_response_to == request_id
    assert sign_on.audiences == [sp.entity_id]
    assert sign_on.recipient == sp.acs_url
    root = fromstring(_raw(fields))
    assert root.get("Destination") == sp.acs_url
    assert root.get("InResponseTo") == request_id
    assert root.find("{http://www.w3.org/2000/09/xmldsig#}Signature") is not None
    assertion = root.find(ASSERTION + "Assertion")
    assert assertion.find("{http://www.w3.org/2000/09/xmldsig#}Signature") is not None
    lifetime = app_settings.SAML_ASSERTION_LIFETIME + app_settings.SAML_CLOCK_SKEW
    conditions = assertion.find(ASSERTION + "Conditions")
    for value in (sign_on.not_on_or_after, conditions.get("NotOnOrAfter")):
        assert time.time() < _epoch(value) <= time.time() + lifetime + 1
    for algorithm in re.findall(r'(?:SignatureMethod|DigestMethod) Algorithm="([^"]+)"', _raw(fields)):
        assert "sha1" not in algorithm


def test_an_sp_with_an_encryption_certificate_gets_the_assertion_encrypted(make_sp, signed_in_client, user):
    sp = make_sp(encryption=True)
    request_id, url = sp.redirect_request()
    fields = answered(signed_in_client, signed_in_client.get(local(url)))
    raw = _raw(fields)
    assert "EncryptedAssertion" in raw
    assert user.email not in raw
    assert ":Assertion " not in raw and "<Assertion" not in raw
    sign_on = sp.parse_response(fields["SAMLResponse"], request_id)
    assert sign_on.encrypted
    assert sign_on.attributes_by_name["urn:oid:0.9.2342.19200300.100.1.3"] == [user.email]


def test_an_sp_without_one_gets_it_signed_but_not_encrypted(sp, signed_in_client):
    """The baseline for the test above."""
    _, url = sp.redirect_request()
    assert "EncryptedAssertion" not in _raw(answered(signed_in_client, signed_in_client.get(local(url))))


# --- NameID ---------------------------------------------------------------------------------------------


def _sign_on(sp, client):
    request_id, url = sp.redirect_request()
    return sp.parse_response(answered(client, client.get(local(url)))["SAMLResponse"], request_id)


def test_persistent_name_ids_are_pairwise_stable_and_never_the_email(make_sp, signed_in_client, user):
    wiki = make_sp()
    tickets = make_sp(base_url="https://tickets.example.com", name="Tickets")
    first, again, other = (
        _sign_on(wiki, signed_in_client),
        _sign_on(wiki, signed_in_client),
        _sign_on(tickets, signed_in_client),
    )
    assert first.name_id == again.name_id
    assert first.name_id != other.name_id
    assert first.name_id_format == other.name_id_format == "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
    for name_id in (first.name_id, other.name_id):
        assert user.email not in name_id


def test_persistent_name_ids_differ_between_people(sp, signed_in_client, make_user):
    from django.test import Client

    from tests.users import PASSWORD

    other = make_user("grace@example.com")
    grace = Client()
    assert grace.post("/accounts/login/", {"email": other.email, "password": PASSWORD}).status_code == 302
    assert _sign_on(sp, signed_in_client).name_id != _sign_on(sp, grace).name_id


def test_the_email_format_gives_the_email(make_sp, signed_in_client, user):
    sp = make_sp(name_id_format=NAMEID_FORMAT_EMAILADDRESS, settings={"name_id_format": NAMEID_EMAIL})
    sign_on = _sign_on(sp, signed_in_client)
    assert sign_on.name_id == user.email
    assert sign_on.name_id_format == NAMEID_EMAIL


def test_asking_for_the_email_format_from_a_persistent_sp_does_not_give_the_email(make_sp, signed_in_client, user):
    sp = make_sp(name_id_format=NAMEID_FORMAT_EMAILADDRESS)  # registered with the default: persistent
    _, url = sp.redirect_request()
    raw = _raw(answered(signed_in_client, signed_in_client.get(local(url))))
    assert "InvalidNameIDPolicy" in raw
    assert user.email not in raw


# --- the SAML app is no OAuth client --------------------------------------------------------------------


def test_a_saml_apps_client_is_refused_by_every_oauth_endpoint(sp, client, signed_in_client):
    app = sp.registered.app
    app.client_secret = "known-secret"
    app.grant_types = getattr(app, "grant_types", "")
    app.save()
    authorize = signed_in_client.get(
        "/oauth/authorize/",
        {
            "client_id": app.client_id,
            "response_type": "code",
            "scope": "openid",
            "redirect_uri": "https://wiki.example.com/acs/",
            "code_challenge": "x" * 43,
            "code_challenge_method": "S256",
        },
    )
    assert authorize.status_code in (400, 401, 403)
    assert "Location" not in authorize
    for grant in ({"grant_type": "client_credentials"}, {"grant_type": "authorization_code", "code": "x"}):
        token = client.post("/oauth/token/", {**grant, "client_id": app.client_id, "client_secret": "known-secret"})
        assert token.status_code == 401 and token.json()["error"] == "invalid_client", token.content
        basic = base64.b64encode(f"{app.client_id}:known-secret".encode()).decode()
        token = client.post("/oauth/token/", grant, HTTP_AUTHORIZATION=f"Basic {basic}")
        assert token.status_code == 401 and token.json()["error"] == "invalid_client", token.content
    introspect = client.post(
        "/oauth/introspect/", {"token": "x", "client_id": app.client_id, "client_secret": "known-secret"}
    )
    assert introspect.status_code in (401, 403)


# --- rate limit -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [SSO, "/saml/slo/"])
def test_saml_ip_limits_sso_and_slo(settings, client, sp, path):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "saml-ip": "3/h"}
    for _ in range(3):
        assert client.get(path, {"SAMLRequest": "x"}).status_code == 400
    limited = client.get(path, {"SAMLRequest": "x"})
    assert limited.status_code == 429
    assert "Location" not in limited
