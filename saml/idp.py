"""pysaml2's identity provider, configured for one service provider at a time.

Every message is read and written by pysaml2 (`saml2.server.Server`): XML through defusedxml, signatures
by Debian's xmlsec1, nothing hand-written. A `Server` is built from the one SP's registered metadata
(so a request can only ever be checked against the SP it names) and the IdP's active certificate, and
kept per process until either changes.
"""

from __future__ import annotations

import shutil
import threading
from typing import TYPE_CHECKING

from defusedxml.ElementTree import fromstring
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.s_utils import UnsupportedBinding
from saml2.saml import NAME_FORMAT_URI
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

from . import keys

if TYPE_CHECKING:
    from saml2.config import IdPConfig
    from saml2.server import Server
from .app_settings import app_settings
from .models import NAMEID_EMAIL, NAMEID_PERSISTENT, ServiceProvider

SIGNATURE_ALGORITHM = SIG_RSA_SHA256
DIGEST_ALGORITHM = DIGEST_SHA256
_cache: dict = {}
_lock = threading.Lock()


def parse_strictly(xml: bytes | str):
    """An element tree from defusedxml refusing any DTD, entity or external reference (pysaml2's own
    parsing refuses entities but lets a DTD through). Raises defusedxml's errors or a ParseError."""
    return fromstring(xml, forbid_dtd=True, forbid_entities=True, forbid_external=True)


class XmlsecMissing(ImproperlyConfigured):
    """No xmlsec1: nothing can be signed or verified (the check saml.W002 says so at start)."""

    reason = "xmlsec1 is not installed."


def xmlsec_binary() -> str:
    return shutil.which("xmlsec1") or ""


def entity_id() -> str:
    """The IdP's entity id: the URL of its metadata, stable as long as SITE_URL is."""
    return settings.SITE_URL + reverse("saml:metadata")


def sso_url() -> str:
    return settings.SITE_URL + reverse("saml:sso")


def slo_url() -> str:
    return settings.SITE_URL + reverse("saml:slo")


def config(sp_metadata: str | None = None) -> IdPConfig:
    key_file, cert_file = keys.signing_files()
    binary = xmlsec_binary()
    if not binary:
        raise XmlsecMissing(XmlsecMissing.reason)
    # pysaml2's config and server load its XML schemas (about a second) when imported: at the first
    # SAML request, not at every process start (tests/saml/test_library_hooks.py).
    from saml2.config import IdPConfig

    conf = IdPConfig()
    conf.load(
        {
            "entityid": entity_id(),
            "xmlsec_binary": binary,
            "key_file": key_file,
            "cert_file": cert_file,
            "metadata": {"inline": [sp_metadata]} if sp_metadata else {},
            "accepted_time_diff": app_settings.SAML_CLOCK_SKEW,
            "service": {
                "idp": {
                    "name": settings.SITE_NAME,
                    "endpoints": {
                        "single_sign_on_service": [(sso_url(), BINDING_HTTP_REDIRECT), (sso_url(), BINDING_HTTP_POST)],
                        "single_logout_service": [(slo_url(), BINDING_HTTP_REDIRECT), (slo_url(), BINDING_HTTP_POST)],
                    },
                    "want_authn_requests_signed": False,  # per SP: server_for
                    "sign_response": True,
                    "sign_assertion": True,
                    "signing_algorithm": SIGNATURE_ALGORITHM,
                    "digest_algorithm": DIGEST_ALGORITHM,
                    "name_id_format": [NAMEID_PERSISTENT, NAMEID_EMAIL],
                    "policy": {
                        "default": {
                            "lifetime": {"seconds": app_settings.SAML_ASSERTION_LIFETIME},
                            "name_form": NAME_FORMAT_URI,
                            "attribute_restrictions": None,
                        }
                    },
                }
            },
        }
    )
    return conf


def only_entity_id(server: Server) -> str:
    entities = list(server.metadata.keys())
    if len(entities) != 1:
        raise ValueError("The metadata must describe exactly one service provider that is still valid (validUntil).")
    return entities[0]


class MetadataExpired(ValueError):
    """The SP's metadata is past its validUntil (pysaml2 then drops it): it must be fetched again."""


def server_for(sp: ServiceProvider) -> Server:
    """The IdP as `sp` sees it: its metadata only, requests signed if it signs them."""
    stamp = (sp.pk, sp.updated_at, keys.active().fingerprint, app_settings.SAML_CLOCK_SKEW, settings.SITE_URL)
    with _lock:
        cached = _cache.get(sp.pk)
        if cached and cached[0] == stamp:
            return cached[1]
    from saml2.server import Server  # see config()

    server = Server(config=config(sp.metadata_xml))
    if sp.entity_id not in server.metadata.keys():
        raise MetadataExpired(f"The metadata of {sp.entity_id} has expired (validUntil); fetch it again.")
    # Read by pysaml2 at each request (entity.py's _parse_request), so it may be set once it is known.
    server.config.setattr("idp", "want_authn_requests_signed", signs_requests_in(server, sp.entity_id))
    with _lock:
        if len(_cache) > 500:
            _cache.clear()
        _cache[sp.pk] = (stamp, server)
    return server


def signs_requests_in(server: Server, entity: str) -> bool:
    """Does the SP sign its requests? Then every request it sends must be signed: an SP with a signing
    certificate in its metadata (or AuthnRequestsSigned) never gets an unsigned request accepted."""
    descriptors = server.metadata[entity].get("spsso_descriptor", [])
    flagged = any(str(d.get("authn_requests_signed", "")).lower() == "true" for d in descriptors)
    return flagged or bool(server.metadata.certs(entity, "spsso", "signing"))


def _services(server: Server, entity: str, service: str, binding: str) -> list[dict]:
    """The SP's endpoints of one kind for one binding. Asked for all bindings at once, since pysaml2
    logs an error for every binding an entity lacks when asked for it by name."""
    try:
        by_binding = server.metadata.service(entity, "spsso_descriptor", service) or {}
    except UnsupportedBinding:  # none of this kind at all (logged by pysaml2 once, not per binding)
        return []
    return list(by_binding.get(binding, [])) if isinstance(by_binding, dict) else []


def acs_endpoints(server: Server, entity: str) -> list[dict]:
    """The SP's HTTP-POST assertion consumer services (the only response binding offered)."""
    return _services(server, entity, "assertion_consumer_service", BINDING_HTTP_POST)


def slo_services(server: Server, entity: str, binding: str) -> list[dict]:
    return _services(server, entity, "single_logout_service", binding)


def slo_endpoints(server: Server, entity: str, binding: str) -> list[str]:
    return [srv["location"] for srv in slo_services(server, entity, binding)]
