"""What the provider needs before it can serve: a usable signing keyset. A system check (`manage.py
check --deploy`, and every web process at start, see identity/wsgi.py) and a readiness check
(`/readyz`), so a missing or unreadable keyset stops the start and keeps a node out of rotation
instead of answering the first token request with a 500. And the scopes APIs define (OIDC_API_SCOPES),
checked the same way at every start."""

from __future__ import annotations

import re

from django.conf import settings
from django.core import checks

from identity.health import STARTUP, NotReady

from . import keys


@checks.register(checks.Tags.security, STARTUP, deploy=True)
def signing_keys_usable(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    problem = keys.keyset_problem()
    if problem is None:
        return []
    return [checks.Error(problem.reason, hint=problem.fix, id="oidc.E001")]


def signing_keys_ready() -> None:
    problem = keys.keyset_problem()
    if problem is not None:
        raise NotReady(problem.reason)


# RFC 6749 §3.3: a scope-token is printable ASCII but space, double quote and backslash.
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


@checks.register(STARTUP)
def api_scopes_usable(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Only the scopes APIs define may be served, since every app's token carries OpenID Connect's own
    (review R8): each must be a scope name of its own, with what the consent page says of it."""
    scopes = settings.OIDC_API_SCOPES
    problems = []
    if not isinstance(scopes, dict) or not all(isinstance(text, str) and text.strip() for text in scopes.values()):
        problems.append('OIDC_API_SCOPES must be a JSON object: {"scope": "what the consent page says"}.')
    else:
        for name in scopes:
            if name in settings.OIDC_SCOPES:
                problems.append(f"OIDC_API_SCOPES: {name!r} is an OpenID Connect scope, not an API's.")
            elif not _SCOPE_TOKEN.fullmatch(name):
                problems.append(f"OIDC_API_SCOPES: {name!r} is not a valid scope name.")
    hint = 'e.g. OIDC_API_SCOPES=\'{"mail.read": "Read your mail"}\' (names without spaces or quotes).'
    return [checks.Error(problem, hint=hint, id="oidc.E002") for problem in problems]
