"""A real SAML 2.0 service provider for the tests: pysaml2's own `Saml2Client`, configured the way a typical
business app configures it (signed responses and signed assertions required, optionally signed requests and
encrypted assertions). Testing the IdP against an independent implementation catches what testing it against
its own code never would. The raw helpers (`authn_request_xml`, `redirect_url`, `post_fields`) let attack
tests tamper with a request and still send it; `ServiceProvider.serve()` runs the SP as a tiny web app for
browser tests."""

from __future__ import annotations

import base64
import datetime
import itertools
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, BINDING_SOAP, SAMLError
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import entity_descriptor
from saml2.pack import make_soap_enveloped_saml_thingy
from saml2.s_utils import deflate_and_base64_encode
from saml2.saml import NAMEID_FORMAT_PERSISTENT, AuthnContextClassRef, NameID
from saml2.samlp import RequestedAuthnContext
from saml2.sigver import RSACrypto, verify_redirect_signature
from saml2.xmldsig import DIGEST_SHA256, DIGEST_SHA384, DIGEST_SHA512, SIG_RSA_SHA256, SIG_RSA_SHA384, SIG_RSA_SHA512

XMLSEC = "/usr/bin/xmlsec1"
REDIRECT, POST, SOAP = BINDING_HTTP_REDIRECT, BINDING_HTTP_POST, BINDING_SOAP
STRONG = {SIG_RSA_SHA256, SIG_RSA_SHA384, SIG_RSA_SHA512, DIGEST_SHA256, DIGEST_SHA384, DIGEST_SHA512}


class WeakSignature(SAMLError):
    """pysaml2 still accepts RSA-SHA1 signatures; issue 17 wants RSA-SHA256 or stronger, so this SP refuses
    SHA-1 (signature or digest) in everything the IdP signs."""


def require_strong(*signed) -> None:
    """Every signature on these pysaml2 elements (already verified) uses SHA-256 or better."""
    for element in signed:
        signature = getattr(element, "signature", None)
        if signature is None:
            continue
        info = signature.signed_info
        algorithms = {info.signature_method.algorithm, *(ref.digest_method.algorithm for ref in info.reference)}
        if not algorithms <= STRONG:
            raise WeakSignature(f"weak signature algorithms: {sorted(algorithms - STRONG)}")


# Making a 2048-bit RSA key takes about 50 ms, and pysaml2 reads and checks each new one (tests/saml/key_memo.py
# remembers those it has read): the run makes a few and hands them out in turn, so the keys one test uses
# all differ from each other (no test uses more than a handful), only not from those of earlier tests.
_KEY_POOL_SIZE = 16
_key_pool: list[rsa.RSAPrivateKey] = []
_keys_handed_out = itertools.count()


def _private_key() -> rsa.RSAPrivateKey:
    turn = next(_keys_handed_out) % _KEY_POOL_SIZE
    if turn == len(_key_pool):
        _key_pool.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return _key_pool[turn]


def make_key_pair(directory: Path, name: str) -> tuple[str, str]:
    """An RSA key and a new self-signed certificate as PEM files (key path, certificate path). SAML trusts the
    certificate in the metadata, not a CA, so this is what real SPs do too. The key differs from the last
    15 made."""
    key = _private_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_file, cert_file = directory / f"{name}.key", directory / f"{name}.crt"
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return str(key_file), str(cert_file)


def as_text(xml: str | bytes) -> str:
    return xml.decode() if isinstance(xml, bytes) else xml


@dataclass
class SignOn:
    """What the SP learned from a verified Response (pysaml2 has checked signatures, audience, recipient,
    InResponseTo and validity times before this exists)."""

    name_id: str
    name_id_format: str | None
    attributes: dict[str, list[str]]  # as pysaml2 maps them for the app (OIDs become friendly names)
    attributes_by_name: dict[str, list[str]]  # keyed by the Name the IdP sent
    authn_context_class_ref: str | None
    session_index: str | None
    issuer: str
    in_response_to: str | None
    audiences: list[str]
    recipient: str | None
    not_on_or_after: str | None
    encrypted: bool  # the assertion came encrypted (and pysaml2 decrypted it)
    xml: str  # the Response as decoded, with encrypted assertions decrypted


@dataclass
class LogoutMessage:
    """An IdP's LogoutRequest or LogoutResponse, verified."""

    id: str
    issuer: str
    xml: str
    in_response_to: str | None = None  # responses
    name_id: str | None = None  # requests
    session_indexes: list[str] = field(default_factory=list)  # requests
    message: object = field(default=None, repr=False)  # pysaml2's samlp object, to answer a request


@dataclass
class Received:
    """One message the served SP got, for tests to assert on: `result` if it verified, else `error`."""

    path: str
    fields: dict[str, str]
    result: SignOn | LogoutMessage | None = None
    error: str | None = None


class ServiceProvider:
    def __init__(
        self,
        *,
        base_url: str,
        idp_metadata: str,
        entity_id: str | None = None,
        sign_requests: bool = False,
        encryption: bool = False,
        name_id_format: str | None = NAMEID_FORMAT_PERSISTENT,
        allow_unsolicited: bool = False,
        soap_slo: bool = False,
        require_signed_logout: bool = True,
    ):
        self.base_url = base_url.rstrip("/")
        self.entity_id = entity_id or f"{self.base_url}/metadata/"
        self.acs_url, self.slo_url = f"{self.base_url}/acs/", f"{self.base_url}/slo/"
        self.sign_requests, self.name_id_format = sign_requests, name_id_format
        self.require_signed_logout = require_signed_logout
        self.outstanding: dict[str, str] = {}  # AuthnRequest id -> RelayState, until its response is consumed
        self.received: list[Received] = []
        self.last_sign_on: SignOn | None = None
        self._keys = tempfile.TemporaryDirectory(prefix="saml-sp-")  # removed with the SP
        slo = [(self.slo_url, REDIRECT), (self.slo_url, POST)]
        if soap_slo:
            slo.append((f"{self.slo_url}soap/", SOAP))
        config: dict = {
            "entityid": self.entity_id,
            "xmlsec_binary": XMLSEC,
            "metadata": {"inline": [idp_metadata]},
            "allow_unknown_attributes": True,
            "service": {
                "sp": {
                    "endpoints": {"assertion_consumer_service": [(self.acs_url, POST)], "single_logout_service": slo},
                    "authn_requests_signed": sign_requests,
                    "want_assertions_signed": True,
                    "want_response_signed": True,
                    "allow_unsolicited": allow_unsolicited,
                    "name_id_format": [name_id_format] if name_id_format else [],
                    "name_id_format_allow_create": True,
                    "signing_algorithm": SIG_RSA_SHA256,  # per service: pysaml2's default is still SHA-1
                    "digest_algorithm": DIGEST_SHA256,
                }
            },
        }
        if sign_requests:
            config["key_file"], config["cert_file"] = make_key_pair(Path(self._keys.name), "signing")
        if encryption:
            key_file, cert_file = make_key_pair(Path(self._keys.name), "encryption")
            config["encryption_keypairs"] = [{"key_file": key_file, "cert_file": cert_file}]
        self.config = SPConfig().load(config)
        self.client = Saml2Client(config=self.config)
        (self.idp_entity_id,) = self.client.metadata.identity_providers()

    def metadata_xml(self) -> str:
        """The SP's own metadata, for registering it at the IdP (unsigned, as most SPs publish it)."""
        return str(entity_descriptor(self.config))

    # --- sign-on -------------------------------------------------------------------------------------------

    def authn_request_xml(
        self,
        binding: str = REDIRECT,
        *,
        force_authn: bool = False,
        is_passive: bool = False,
        authn_context: list[str] | None = None,
        comparison: str = "minimum",
        relay_state: str = "",
        sign: bool | None = None,
        **extra,
    ) -> tuple[str, str]:
        """(request id, AuthnRequest XML) for `binding`'s SSO endpoint. For POST a signing SP embeds the
        signature here; for Redirect the signature belongs to the query string (`redirect_url`). `extra` goes
        to pysaml2's create_authn_request (e.g. assertion_consumer_service_url=, protocol_binding=)."""
        options = dict(extra)
        if force_authn:
            options["force_authn"] = "true"
        if is_passive:
            options["is_passive"] = "true"
        if authn_context:
            options["requested_authn_context"] = RequestedAuthnContext(
                authn_context_class_ref=[AuthnContextClassRef(text=ref) for ref in authn_context],
                comparison=comparison,
            )
        request_id, request = self.client.create_authn_request(
            self.client.sso_location(self.idp_entity_id, binding),
            nameid_format=self.name_id_format,
            sign=self._signs(sign) and binding == POST,
            **options,
        )
        self.outstanding[request_id] = relay_state
        return request_id, str(request)

    def redirect_url(
        self,
        xml: str,
        relay_state: str = "",
        sign: bool | None = None,
        destination: str = "",
        kind: str = "SAMLRequest",
    ) -> str:
        """The HTTP-Redirect URL carrying `xml` (deflated, base64), signed over the query string by pysaml2 when
        signing, even if a test has tampered with the XML."""
        destination = destination or self.client.sso_location(self.idp_entity_id, REDIRECT)
        info = self.client.apply_binding(
            REDIRECT, xml, destination, relay_state, response=kind == "SAMLResponse", sign=self._signs(sign)
        )
        return dict(info["headers"])["Location"]

    @staticmethod
    def post_fields(xml: str, relay_state: str = "", kind: str = "SAMLRequest") -> dict[str, str]:
        """The HTTP-POST form fields carrying `xml` (plain base64, no deflate)."""
        fields = {kind: base64.b64encode(xml.encode()).decode()}
        if relay_state:
            fields["RelayState"] = relay_state
        return fields

    @staticmethod
    def deflate_and_encode(xml: str) -> str:
        """Redirect's encoding, for tests building a query string by hand (e.g. without a signature)."""
        return deflate_and_base64_encode(xml).decode()

    def redirect_request(self, relay_state: str = "", sign: bool | None = None, **options) -> tuple[str, str]:
        """(request id, URL to the IdP's SSO with SAMLRequest[, RelayState, SigAlg, Signature])."""
        request_id, xml = self.authn_request_xml(REDIRECT, relay_state=relay_state, sign=sign, **options)
        return request_id, self.redirect_url(xml, relay_state, sign)

    def post_request(
        self, relay_state: str = "", sign: bool | None = None, **options
    ) -> tuple[str, str, dict[str, str]]:
        """(request id, the IdP's POST SSO URL, form fields SAMLRequest[, RelayState])."""
        request_id, xml = self.authn_request_xml(POST, relay_state=relay_state, sign=sign, **options)
        return request_id, self.client.sso_location(self.idp_entity_id, POST), self.post_fields(xml, relay_state)

    def parse_response(self, saml_response: str, request_id: str | None = None) -> SignOn:
        """Verify a base64 SAMLResponse as received on the ACS. With `request_id` it must answer that request;
        without, any request of this SP still outstanding (none, for IdP-initiated: then only an SP created
        with allow_unsolicited accepts it). A consumed request id is forgotten, so a replay is refused, as by
        an SP that keeps its outstanding requests in the session."""
        outstanding = dict(self.outstanding)
        if request_id:
            outstanding = {request_id: outstanding[request_id]} if request_id in outstanding else {}
        response = self.client.parse_authn_request_response(saml_response, POST, outstanding=outstanding)
        if response is None:
            raise SAMLError("pysaml2 could not read the response")
        assertion = response.assertion
        require_strong(response.response, assertion)
        self.outstanding.pop(response.in_response_to, None)
        statement = assertion.authn_statement[0] if assertion.authn_statement else None
        confirmation = assertion.subject.subject_confirmation[0].subject_confirmation_data
        restrictions = assertion.conditions.audience_restriction if assertion.conditions else []
        context = statement.authn_context if statement else None
        self.last_sign_on = SignOn(
            name_id=response.name_id.text,
            name_id_format=response.name_id.format,
            attributes=response.ava,
            attributes_by_name={
                attribute.name: [value.text for value in attribute.attribute_value]
                for attribute_statement in assertion.attribute_statement
                for attribute in attribute_statement.attribute
            },
            authn_context_class_ref=context.authn_context_class_ref.text if context else None,
            session_index=statement.session_index if statement else None,
            issuer=response.issuer(),
            in_response_to=response.in_response_to,
            audiences=[audience.text for restriction in restrictions for audience in restriction.audience],
            recipient=confirmation.recipient if confirmation else None,
            not_on_or_after=confirmation.not_on_or_after if confirmation else None,
            encrypted=not any(plain is assertion for plain in response.response.assertion),
            xml=as_text(response.xmlstr),
        )
        return self.last_sign_on

    # --- single logout -------------------------------------------------------------------------------------

    def logout_request(
        self,
        name_id: str,
        session_index: str | None,
        binding: str = REDIRECT,
        *,
        name_id_format: str | None = None,
        relay_state: str = "",
        sign: bool | None = None,
    ) -> tuple[str, str, dict[str, str] | None]:
        """SP-initiated logout: (request id, URL, None) for Redirect, (request id, action, form fields) for
        POST."""
        destination = self._idp_slo(binding)
        request_id, request = self.client.create_logout_request(
            destination,
            self.idp_entity_id,
            name_id=NameID(text=name_id, format=name_id_format or self.name_id_format),
            session_indexes=[session_index] if session_index else None,
            sign=self._signs(sign) and binding == POST,
        )
        if binding == REDIRECT:
            return request_id, self.redirect_url(str(request), relay_state, sign, destination), None
        return request_id, destination, self.post_fields(str(request), relay_state)

    def parse_logout_response(
        self, message: Mapping[str, str] | str, binding: str = REDIRECT, request_id: str | None = None
    ) -> LogoutMessage:
        """The IdP's LogoutResponse: `message` is the query/form fields (SAMLResponse, RelayState, SigAlg,
        Signature), or the SOAP envelope. A non-success status raises pysaml2's StatusError."""
        text = self._verified(message, binding, "SAMLResponse")
        response = self.client.parse_logout_request_response(text, binding)
        if response is None:
            raise SAMLError("pysaml2 could not read the logout response")
        self._require_embedded_signature(binding, response.response)
        require_strong(response.response)
        if request_id and response.in_response_to != request_id:
            raise SAMLError(f"LogoutResponse answers {response.in_response_to}, not {request_id}")
        return LogoutMessage(
            id=response.response.id,
            issuer=response.issuer(),
            xml=as_text(response.xmlstr),
            in_response_to=response.in_response_to,
        )

    def parse_logout_request(self, message: Mapping[str, str] | str, binding: str = REDIRECT) -> LogoutMessage:
        """A LogoutRequest the IdP sent (front channel: the fields; back channel: the SOAP envelope)."""
        text = self._verified(message, binding, "SAMLRequest")
        request = self.client.parse_logout_request(text, binding)
        if request is None:
            raise SAMLError("pysaml2 could not read the logout request")
        self._require_embedded_signature(binding, request.message)
        require_strong(request.message)
        return LogoutMessage(
            id=request.message.id,
            issuer=request.issuer.text,
            xml=as_text(request.xmlstr),
            name_id=request.message.name_id.text if request.message.name_id else None,
            session_indexes=[index.text for index in request.message.session_index],
            message=request.message,
        )

    def logout_response(self, request: LogoutMessage, binding: str = REDIRECT, relay_state: str = "") -> dict:
        """Answer an IdP's LogoutRequest with success: {"url": ...} for Redirect, {"url", "fields"} for POST,
        {"soap": envelope} for SOAP."""
        sign = self._signs(None)
        response = self.client.create_logout_response(request.message, [binding], sign=sign and binding != REDIRECT)
        if binding == SOAP:
            return {"soap": make_soap_enveloped_saml_thingy(str(response))}
        destination = self._idp_slo(binding, response=True)
        if binding == REDIRECT:
            return {"url": self.redirect_url(str(response), relay_state, sign, destination, "SAMLResponse")}
        return {"url": destination, "fields": self.post_fields(str(response), relay_state, "SAMLResponse")}

    # --- internals -----------------------------------------------------------------------------------------

    def _signs(self, sign: bool | None) -> bool:
        return self.sign_requests if sign is None else sign

    def _idp_slo(self, binding: str, response: bool = False) -> str:
        (endpoint, *_) = self.client.metadata.single_logout_service(self.idp_entity_id, binding, "idpsso")
        return (response and endpoint.get("response_location")) or endpoint["location"]

    def _verified(self, message: Mapping[str, str] | str, binding: str, kind: str) -> str:
        """The message's text; for Redirect after checking the query-string signature against the IdP's
        signing certificates (pysaml2 checks it only for what an IdP receives)."""
        if binding == SOAP:
            assert isinstance(message, str)
            return message
        assert not isinstance(message, str)
        if binding == REDIRECT and (self.require_signed_logout or "Signature" in message):
            signed = {key: message[key] for key in (kind, "RelayState", "SigAlg", "Signature") if key in message}
            if message.get("SigAlg", SIG_RSA_SHA256) not in STRONG:
                raise WeakSignature(f"weak SigAlg {message['SigAlg']}")
            certs = self.client.metadata.certs(self.idp_entity_id, "idpsso", "signing")
            if "Signature" not in signed or not any(
                verify_redirect_signature(signed, RSACrypto(None), cert)
                for _, cert in certs  # keys from the certs
            ):
                raise SAMLError(f"the {kind}'s redirect signature is missing or wrong")
        return message[kind]

    def _require_embedded_signature(self, binding: str, message) -> None:
        """pysaml2 verifies an embedded signature when there is one; a strict SP also wants one to be there."""
        if binding != REDIRECT and self.require_signed_logout and message.signature is None:
            raise SAMLError("the IdP's logout message is not signed")

    # --- a browser's view ----------------------------------------------------------------------------------

    @classmethod
    @contextmanager
    def serve(cls, **options) -> Iterator[ServiceProvider]:
        """Run the SP on 127.0.0.1 in a thread (see tests/saml/sp_server.py); its entity id and base URL are
        its own address, known before the SP (and so its metadata) is built."""
        from tests.saml.sp_server import serving

        with serving(cls, **options) as sp:
            yield sp
