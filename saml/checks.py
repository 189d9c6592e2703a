"""What the identity provider needs before it can serve: a usable signing certificate. A system check
(`manage.py check --deploy`, and every web process at its start, see identity/wsgi.py) and a readiness
check (`/readyz`), so a keyset that is there but cannot be used stops the start and keeps a node out of
rotation instead of failing the first sign-in at an SP. No keyset at all outside development means SAML
is not set up: a warning (saml.W003), and the SAML endpoints answer 503. And warnings while the signing
certificate nears its end, which some SPs enforce, and when xmlsec1 is missing."""

from __future__ import annotations

import time

from django.core import checks

from identity import health
from identity.health import STARTUP, NotReady

from . import idp, keys

EXPIRY_WARNING = 60 * 24 * 3600  # time enough to stage a new one and let every SP fetch it


def signing_certificate_usable(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    problem = keys.keyset_problem()
    if problem is None:
        return []
    return [checks.Error(problem.reason, hint=problem.fix, id="saml.E001")]


def saml_set_up(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    if not keys.not_set_up():
        return []
    return [
        checks.Warning(
            "SAML is not set up: there is no signing certificate, so SAML sign-on answers 503.",
            hint="To use SAML, run `manage.py rotate_saml_certificate --stage`, then --activate.",
            id="saml.W003",
        )
    ]


def signing_certificate_not_expiring(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    if keys.made_on_first_use() or keys.not_set_up() or keys.keyset_problem() is not None:
        return []  # nothing to look at yet, or saml.E001 says why
    signer = keys.active()
    if signer.expires - time.time() > EXPIRY_WARNING:
        return []
    return [
        checks.Warning(
            f"The SAML signing certificate {signer.fingerprint} expires on "
            f"{time.strftime('%Y-%m-%d', time.gmtime(signer.expires))}.",
            hint="Run `manage.py rotate_saml_certificate --stage`, and --activate once every SP has the new metadata.",
            id="saml.W001",
        )
    ]


def xmlsec_installed(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    if idp.xmlsec_binary():
        return []
    return [
        checks.Warning(
            "xmlsec1 is not installed: SAML sign-on and logout answer 503 until it is.",
            hint="apt-get install xmlsec1 (pysaml2 signs and verifies with it).",
            id="saml.W002",
        )
    ]


def signing_certificate_ready() -> None:
    problem = keys.keyset_problem()
    if problem is not None:
        raise NotReady(problem.reason)


def register() -> None:
    """Called once from the app's ready()."""
    checks.register(signing_certificate_usable, checks.Tags.security, STARTUP, deploy=True)
    checks.register(signing_certificate_not_expiring, checks.Tags.security, deploy=True)
    checks.register(xmlsec_installed, checks.Tags.security)
    checks.register(saml_set_up, checks.Tags.security, deploy=True)
    health.add_check("saml_certificate", signing_certificate_ready)
