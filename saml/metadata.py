"""The IdP's metadata (at a stable URL, its entity id) and reading an SP's metadata for registration.

Ours lists every published certificate (oidc-style rotation in saml.keys): the next one, staged
before it signs anything, so SPs that refresh metadata trust it by the time it does; the active one;
and a retired one for a while. Both are written and read by pysaml2.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, BINDING_SOAP
from saml2.xmldsig import DIGEST_SHA256, DIGEST_SHA384, DIGEST_SHA512, SIG_RSA_SHA256, SIG_RSA_SHA384, SIG_RSA_SHA512

from oidc.models import uri_problem

from . import idp, keys

ADVERTISED_ALGORITHMS = frozenset(
    {DIGEST_SHA256, DIGEST_SHA384, DIGEST_SHA512, SIG_RSA_SHA256, SIG_RSA_SHA384, SIG_RSA_SHA512}
)


def _pem_body(pem: str) -> str:
    return "".join(line for line in pem.strip().splitlines() if "-----" not in line)


_built: dict = {}


def idp_metadata() -> str:
    """Built once per set of published certificates (pysaml2 asks xmlsec1 what it supports, a process
    started each time)."""
    stamp = (tuple(cert.fingerprint for cert in keys.published()), settings.SITE_URL, settings.SITE_NAME)
    if _built.get("stamp") != stamp:
        _built.update(stamp=stamp, xml=_build_idp_metadata())
    return _built["xml"]


def _build_idp_metadata() -> str:
    # pysaml2's metadata and server load its XML schemas when imported: see idp.config.
    from saml2.metadata import do_key_descriptor, entity_descriptor, metadata_tostring_fix
    from saml2.validate import valid_instance

    conf = idp.config()
    descriptor = entity_descriptor(conf)
    active = keys.active()
    others = [_pem_body(cert.cert_pem) for cert in keys.published() if cert.fingerprint != active.fingerprint]
    if others:
        descriptor.idpsso_descriptor.key_descriptor.extend(do_key_descriptor(cert=others, use="signing"))
    descriptor.cache_duration = "PT1H"  # SPs that refresh metadata see a staged certificate within the hour
    if descriptor.extensions is not None:
        # pysaml2 lists every algorithm xmlsec1 knows (MD5 and SHA-1 among them): only what we use and accept.
        descriptor.extensions.extension_elements = [
            element
            for element in descriptor.extensions.extension_elements
            if element.attributes.get("Algorithm") in ADVERTISED_ALGORITHMS
        ]
    valid_instance(descriptor)
    xml = metadata_tostring_fix(descriptor, {"md": "urn:oasis:names:tc:SAML:2.0:metadata"})
    return xml.decode() if isinstance(xml, bytes) else xml


class MetadataProblem(ValueError):
    pass


def endpoint_problem(url: str) -> str | None:
    """Why an SP's endpoint is unacceptable: the rule for redirect URIs (https, or http on loopback),
    and no private or link-local address (Celery POSTs logout requests to SOAP endpoints: a cloud's
    metadata service at 169.254.169.254 must not be one)."""
    if problem := uri_problem(url):
        return str(problem)
    host = urlsplit(url).hostname or ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if not address.is_loopback and (address.is_private or address.is_link_local or address.is_reserved):
        return f"{url} points at a private or link-local address."
    return None


@dataclass(frozen=True)
class SpDescription:
    """What an SP's metadata says, as the admin shows it."""

    entity_id: str
    acs: list[str]
    slo: list[tuple[str, str]]  # (binding's short name, URL)
    signs_requests: bool
    encrypts: bool


BINDING_NAMES = {BINDING_HTTP_REDIRECT: "HTTP-Redirect", BINDING_HTTP_POST: "HTTP-POST", BINDING_SOAP: "SOAP"}


def describe(xml: str) -> SpDescription:
    """Read an SP's metadata with pysaml2, or raise MetadataProblem saying why it cannot be used."""
    from saml2.server import Server  # loads pysaml2's schemas: see idp.config

    if not xml or not xml.strip():
        raise MetadataProblem("The metadata is empty.")
    try:
        idp.parse_strictly(xml)
        server = Server(config=idp.config(xml))
        entity = idp.only_entity_id(server)
        sp = server.metadata[entity]
    except Exception as error:  # pysaml2 raises a variety for XML it cannot use
        raise MetadataProblem(f"pysaml2 cannot read this metadata ({type(error).__name__}: {error}).") from error
    if not sp.get("spsso_descriptor"):
        raise MetadataProblem("This is not a service provider's metadata (no SPSSODescriptor).")
    acs = [srv["location"] for srv in idp.acs_endpoints(server, entity)]
    if not acs:
        raise MetadataProblem("The metadata has no AssertionConsumerService with the HTTP-POST binding.")
    slo_services = [
        (name, srv) for binding, name in BINDING_NAMES.items() for srv in idp.slo_services(server, entity, binding)
    ]
    endpoints = [*acs, *(url for _, srv in slo_services for url in (srv["location"], srv.get("response_location")))]
    for url in filter(None, endpoints):
        if problem := endpoint_problem(url):
            raise MetadataProblem(str(problem))
    slo = [(name, srv["location"]) for name, srv in slo_services]
    return SpDescription(
        entity_id=entity,
        acs=acs,
        slo=slo,
        signs_requests=idp.signs_requests_in(server, entity),
        encrypts=bool(server.metadata.certs(entity, "spsso", "encryption")),
    )
