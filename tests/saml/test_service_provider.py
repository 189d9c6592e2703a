"""The test service provider proven against pysaml2's own IdP (`saml2.server.Server`), so a failing SAML test
later points at Identity's IdP, not at the harness."""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, BINDING_SOAP
from saml2.config import IdPConfig
from saml2.metadata import entity_descriptor
from saml2.pack import make_soap_enveloped_saml_thingy
from saml2.response import StatusError, UnsolicitedResponse
from saml2.saml import AUTHN_PASSWORD_PROTECTED, NAME_FORMAT_URI, NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server
from saml2.sigver import SignatureError
from saml2.xmldsig import DIGEST_SHA1, DIGEST_SHA256, SIG_RSA_SHA1, SIG_RSA_SHA256

from tests.saml.service_provider import XMLSEC, ServiceProvider, WeakSignature, make_key_pair

IDP = "https://idp.example/saml/metadata/"
SP_BASE = "https://sp.example"
MFA = "https://refeds.org/profile/mfa"


def idp_config(tmp_path: Path, sp_metadata: str | None = None, want_signed: bool = False) -> IdPConfig:
    """pysaml2's IdP, its key made at the first call in this test's directory."""
    key_file, cert_file = tmp_path / "idp.key", tmp_path / "idp.crt"
    if not key_file.exists():
        make_key_pair(tmp_path, "idp")
    endpoints = {
        "single_sign_on_service": [
            (f"{IDP}sso/redirect/", BINDING_HTTP_REDIRECT),
            (f"{IDP}sso/post/", BINDING_HTTP_POST),
        ],
        "single_logout_service": [(f"{IDP}slo/", BINDING_HTTP_REDIRECT), (f"{IDP}slo/", BINDING_HTTP_POST)],
    }
    policy = {"default": {"lifetime": {"minutes": 5}, "name_form": NAME_FORMAT_URI}}
    return IdPConfig().load(
        {
            "entityid": IDP,
            "xmlsec_binary": XMLSEC,
            "key_file": str(key_file),
            "cert_file": str(cert_file),
            "metadata": {"inline": [sp_metadata]} if sp_metadata else {},
            "service": {
                "idp": {
                    "endpoints": endpoints,
                    "policy": policy,
                    "want_authn_requests_signed": want_signed,
                    "signing_algorithm": SIG_RSA_SHA256,
                    "digest_algorithm": DIGEST_SHA256,
                }
            },
        }
    )


@pytest.fixture
def make_pair(tmp_path):
    """(sp, idp): the IdP's metadata is made first (the SP loads it), then the IdP learns the SP's."""

    def make(want_signed: bool = False, **sp_options) -> tuple[ServiceProvider, Server]:
        idp_metadata = str(entity_descriptor(idp_config(tmp_path)))
        sp = ServiceProvider(base_url=SP_BASE, idp_metadata=idp_metadata, **sp_options)
        return sp, Server(config=idp_config(tmp_path, sp.metadata_xml(), want_signed))

    return make


def respond(idp: Server, request, encrypt: bool = False, **overrides) -> str:
    """A signed Response and assertion from pysaml2's IdP answering `request` (a parsed AuthnRequest)."""
    message = request.message
    arguments = {
        "identity": {"mail": ["ada@example.com"], "givenName": ["Ada"]},
        "in_response_to": message.id,
        "destination": message.assertion_consumer_service_url,
        "sp_entity_id": message.issuer.text,
        "name_id": NameID(text="pairwise-123", format=NAMEID_FORMAT_PERSISTENT),
        "authn": {"class_ref": AUTHN_PASSWORD_PROTECTED, "authn_auth": IDP},
        "sign_response": True,
        "sign_assertion": True,
    }
    if encrypt:
        (cert,) = idp.metadata.certs(message.issuer.text, "spsso", "encryption")
        arguments.update(encrypt_assertion=True, encrypt_cert_assertion=cert[1])
    arguments.update(overrides)
    return base64.b64encode(str(idp.create_authn_response(**arguments)).encode()).decode()


class Stay(urllib.request.HTTPRedirectHandler):
    """Keep a 302 as the answer (an HTTPError): the IdP it points at is not listening."""

    def redirect_request(self, *args):
        return None


def redirected(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def test_a_redirect_request_is_read_by_pysaml2s_idp_with_what_was_asked(make_pair):
    sp, idp = make_pair()
    request_id, url = sp.redirect_request(force_authn=True, authn_context=[MFA], relay_state="next")
    fields = redirected(url)
    assert url.startswith(f"{IDP}sso/redirect/?") and fields["RelayState"] == "next"
    message = idp.parse_authn_request(fields["SAMLRequest"], BINDING_HTTP_REDIRECT).message
    assert message.id == request_id and message.issuer.text == sp.entity_id
    assert message.assertion_consumer_service_url == sp.acs_url and message.force_authn == "true"
    assert message.name_id_policy.format == NAMEID_FORMAT_PERSISTENT
    context = message.requested_authn_context
    assert context.comparison == "minimum" and context.authn_context_class_ref[0].text == MFA


@pytest.mark.parametrize("binding", [BINDING_HTTP_REDIRECT, BINDING_HTTP_POST])
def test_a_signed_request_verifies_at_an_idp_that_wants_signatures_and_a_tampered_one_does_not(make_pair, binding):
    sp, idp = make_pair(want_signed=True, sign_requests=True)
    if binding == BINDING_HTTP_REDIRECT:
        fields = redirected(sp.redirect_request()[1])
        parse = {"sigalg": fields["SigAlg"], "signature": fields["Signature"]}
    else:
        fields, parse = sp.post_request()[2], {}
    message = idp.parse_authn_request(fields["SAMLRequest"], binding, **parse).message
    assert message.issuer.text == sp.entity_id
    algorithm = fields["SigAlg"] if binding == BINDING_HTTP_REDIRECT else message.signature.signed_info.signature_method
    assert getattr(algorithm, "algorithm", algorithm) == SIG_RSA_SHA256

    _, xml = sp.authn_request_xml(binding)
    tampered = xml.replace(sp.acs_url, "https://evil.example/acs/")
    if binding == BINDING_HTTP_REDIRECT:  # signed first, then changed: the query signature no longer matches
        signed = redirected(sp.redirect_url(xml))
        fields = {**signed, "SAMLRequest": sp.deflate_and_encode(tampered)}
        parse = {"sigalg": fields["SigAlg"], "signature": fields["Signature"]}
    else:
        fields = sp.post_fields(tampered)
    with pytest.raises(Exception, match="not signed correctly"):
        idp.parse_authn_request(fields["SAMLRequest"], binding, **parse)


def test_the_sp_can_sign_a_request_for_an_unregistered_acs(make_pair):
    """What the IdP must refuse on the ACS URL alone, because the signature is fine."""
    sp, idp = make_pair(want_signed=True, sign_requests=True)
    _, xml = sp.authn_request_xml(BINDING_HTTP_POST, assertion_consumer_service_url="https://evil.example/acs/")
    message = idp.parse_authn_request(sp.post_fields(xml)["SAMLRequest"], BINDING_HTTP_POST).message
    assert message.assertion_consumer_service_url == "https://evil.example/acs/"


def test_a_signed_response_is_verified_and_read(make_pair):
    sp, idp = make_pair()
    request_id, url = sp.redirect_request()
    request = idp.parse_authn_request(redirected(url)["SAMLRequest"], BINDING_HTTP_REDIRECT)
    sign_on = sp.parse_response(respond(idp, request), request_id)
    assert (sign_on.name_id, sign_on.name_id_format) == ("pairwise-123", NAMEID_FORMAT_PERSISTENT)
    assert sign_on.attributes["mail"] == ["ada@example.com"] and sign_on.attributes["givenName"] == ["Ada"]
    assert sign_on.attributes_by_name["urn:oid:0.9.2342.19200300.100.1.3"] == ["ada@example.com"]
    assert sign_on.authn_context_class_ref == AUTHN_PASSWORD_PROTECTED and sign_on.session_index
    assert (sign_on.issuer, sign_on.in_response_to, sign_on.recipient) == (IDP, request_id, sp.acs_url)
    assert sign_on.audiences == [sp.entity_id] and not sign_on.encrypted and ":Response " in sign_on.xml  # any prefix


def test_an_encrypted_assertion_is_decrypted_with_the_sps_key(make_pair):
    sp, idp = make_pair(encryption=True)
    assert 'use="encryption"' in sp.metadata_xml()
    request_id, _, fields = sp.post_request()
    request = idp.parse_authn_request(fields["SAMLRequest"], BINDING_HTTP_POST)
    response = respond(idp, request, encrypt=True)
    assert b"EncryptedAssertion" in base64.b64decode(response) and b"pairwise-123" not in base64.b64decode(response)
    sign_on = sp.parse_response(response, request_id)
    assert sign_on.encrypted and sign_on.name_id == "pairwise-123" and sign_on.attributes["mail"]


@pytest.mark.parametrize(
    "case, refusal",
    [
        ("altered", SignatureError),  # signed content changed after signing
        ("unsigned", SignatureError),
        ("assertion unsigned", SignatureError),  # want_assertions_signed
        ("response unsigned", SignatureError),  # want_response_signed
        ("replayed", UnsolicitedResponse),
        ("for another request", UnsolicitedResponse),
        ("unsolicited", UnsolicitedResponse),
        ("signed with SHA-1", WeakSignature),
    ],
)
def test_the_sp_refuses_what_a_careful_sp_refuses(make_pair, case, refusal):
    sp, idp = make_pair()
    request_id, url = sp.redirect_request()
    request = idp.parse_authn_request(redirected(url)["SAMLRequest"], BINDING_HTTP_REDIRECT)
    signing = {
        "sign_response": case not in ("unsigned", "response unsigned"),
        "sign_assertion": case not in ("unsigned", "assertion unsigned"),
    }
    if case == "signed with SHA-1":
        signing.update(sign_alg=SIG_RSA_SHA1, digest_alg=DIGEST_SHA1)
    response = respond(idp, request, **signing)
    if case == "altered":
        response = base64.b64encode(base64.b64decode(response).replace(b"ada@", b"eve@")).decode()
    elif case == "replayed":
        sp.parse_response(response)
    elif case == "for another request":
        request_id = sp.redirect_request()[0]
    elif case == "unsolicited":
        sp.outstanding.clear()
        request_id = None
    with pytest.raises(refusal):
        sp.parse_response(response, request_id)


def test_an_idp_initiated_response_is_accepted_only_when_allowed(make_pair):
    sp, idp = make_pair(allow_unsolicited=True)
    request = idp.parse_authn_request(redirected(sp.redirect_request()[1])["SAMLRequest"], BINDING_HTTP_REDIRECT)
    assert sp.parse_response(respond(idp, request, in_response_to=None)).in_response_to is None


def test_a_status_error_from_the_idp_raises(make_pair):
    sp, idp = make_pair()
    request_id, url = sp.redirect_request(is_passive=True)
    request = idp.parse_authn_request(redirected(url)["SAMLRequest"], BINDING_HTTP_REDIRECT)
    assert request.message.is_passive == "true"
    error = idp.create_error_response(request.message.id, sp.acs_url, StatusError("no passive"), sign=True)
    with pytest.raises(StatusError):
        sp.parse_response(base64.b64encode(str(error).encode()).decode(), request_id)


def test_logout_both_ways_with_pysaml2s_idp(make_pair):
    sp, idp = make_pair(sign_requests=True)
    request_id, url, form = sp.logout_request("pairwise-123", "session-1")
    fields = redirected(url)
    assert form is None and url.startswith(f"{IDP}slo/?") and "Signature" in fields
    request = idp.parse_logout_request(fields["SAMLRequest"], BINDING_HTTP_REDIRECT)
    assert request.message.name_id.text == "pairwise-123" and request.message.session_index[0].text == "session-1"
    answer = idp.create_logout_response(request.message, [BINDING_HTTP_REDIRECT], sign=False)
    signed = idp.apply_binding(BINDING_HTTP_REDIRECT, str(answer), sp.slo_url, response=True, sign=True)
    back = redirected(dict(signed["headers"])["Location"])
    assert sp.parse_logout_response(back, request_id=request_id).in_response_to == request_id
    with pytest.raises(Exception, match="redirect signature"):
        sp.parse_logout_response({"SAMLResponse": back["SAMLResponse"]})

    _, idp_request = idp.create_logout_request(
        sp.slo_url, sp.entity_id, name_id=NameID(text="pairwise-123"), sign=True, sign_alg=SIG_RSA_SHA256
    )
    posted = sp.post_fields(str(idp_request))
    incoming = sp.parse_logout_request(posted, BINDING_HTTP_POST)
    assert incoming.name_id == "pairwise-123" and incoming.issuer == IDP
    reply = sp.logout_response(incoming, BINDING_HTTP_POST)
    assert reply["url"] == f"{IDP}slo/"
    assert idp.parse_logout_request_response(reply["fields"]["SAMLResponse"], BINDING_HTTP_POST).in_response_to == (
        incoming.id
    )


def test_the_served_sp_starts_a_sign_on_and_shows_what_it_verified(tmp_path):
    idp_metadata = str(entity_descriptor(idp_config(tmp_path)))
    with ServiceProvider.serve(idp_metadata=idp_metadata) as sp:
        assert sp.base_url.startswith("http://127.0.0.1:") and sp.entity_id == f"{sp.base_url}/metadata/"
        with urllib.request.urlopen(sp.entity_id) as metadata:  # noqa: S310 - our own loopback server
            assert sp.acs_url in metadata.read().decode()
        idp = Server(config=idp_config(tmp_path, sp.metadata_xml()))

        with pytest.raises(urllib.error.HTTPError) as redirect:
            urllib.request.build_opener(Stay).open(f"{sp.base_url}/login?binding=redirect&force_authn=1")
        location = redirect.value.headers["Location"]
        request = idp.parse_authn_request(redirected(location)["SAMLRequest"], BINDING_HTTP_REDIRECT)
        assert request.message.force_authn == "true"

        body = urlencode({"SAMLResponse": respond(idp, request)}).encode()
        with urllib.request.urlopen(sp.acs_url, data=body) as page:  # noqa: S310
            shown = page.read().decode()
        assert '<p id="name-id">pairwise-123</p>' in shown and 'data-attribute="urn:oid:' in shown
        with pytest.raises(urllib.error.HTTPError) as refused:  # the same response again: a replay
            urllib.request.urlopen(sp.acs_url, data=body)  # noqa: S310
        assert refused.value.code == 400 and 'id="error"' in refused.value.read().decode()
        assert [received.error is None for received in sp.received] == [True, False]

        with urllib.request.urlopen(f"{sp.base_url}/login?binding=post&authn_context={MFA}") as page:  # noqa: S310
            form = page.read().decode()
        assert f'action="{IDP}sso/post/"' in form and 'name="SAMLRequest"' in form and ".submit()" in form


def test_the_served_sp_answers_the_idps_logout_requests_front_and_back_channel(tmp_path):
    idp_metadata = str(entity_descriptor(idp_config(tmp_path)))
    with ServiceProvider.serve(idp_metadata=idp_metadata, soap_slo=True) as sp:
        assert f"{sp.slo_url}soap/" in sp.metadata_xml()
        idp = Server(config=idp_config(tmp_path, sp.metadata_xml()))
        name_id = NameID(text="pairwise-123", format=NAMEID_FORMAT_PERSISTENT)

        request_id, request = idp.create_logout_request(sp.slo_url, sp.entity_id, name_id=name_id, sign=False)
        signed = idp.apply_binding(BINDING_HTTP_REDIRECT, str(request), sp.slo_url, "rs", sign=True)
        with pytest.raises(urllib.error.HTTPError) as redirect:
            urllib.request.build_opener(Stay).open(dict(signed["headers"])["Location"])
        answer = redirected(redirect.value.headers["Location"])
        assert redirect.value.headers["Location"].startswith(f"{IDP}slo/?") and answer["RelayState"] == "rs"
        assert idp.parse_logout_request_response(answer["SAMLResponse"], BINDING_HTTP_REDIRECT).in_response_to == (
            request_id
        )

        request_id, request = idp.create_logout_request(
            f"{sp.slo_url}soap/", sp.entity_id, name_id=name_id, sign=True, sign_alg=SIG_RSA_SHA256
        )
        envelope = make_soap_enveloped_saml_thingy(request).encode()
        with urllib.request.urlopen(f"{sp.slo_url}soap/", data=envelope) as reply:  # noqa: S310
            response = idp.parse_logout_request_response(reply.read().decode(), BINDING_SOAP)
        assert response.in_response_to == request_id
        assert [received.result.name_id for received in sp.received] == ["pairwise-123", "pairwise-123"]
