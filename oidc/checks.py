"""What the provider needs before it can serve: a usable signing keyset. A system check (`manage.py
check --deploy`, and every web process at start, see identity/wsgi.py) and a readiness check
(`/readyz`), so a missing or unreadable keyset stops the start and keeps a node out of rotation
instead of answering the first token request with a 500."""

from __future__ import annotations

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
