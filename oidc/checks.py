"""What the provider needs before it can serve: a usable signing keyset. A system check (`manage.py
check --deploy`, and every web process at start, see identity/wsgi.py) and a readiness check
(`/readyz`), so a missing or unreadable keyset stops the start and keeps a node out of rotation
instead of answering the first token request with a 500. A warning when the keyset lacks a key type
(an RSA keyset from before ES256): it keeps signing for the apps of the type it has, so it stops no
start, but says what to run. And a warning for the retired OIDC_API_SCOPES."""

from __future__ import annotations

import os

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


@checks.register(checks.Tags.security, STARTUP)  # in development too (runserver): a stale keys file
def every_algorithm_has_a_key(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    if keys.made_on_first_use() or keys.keyset_problem() is not None:
        return []  # made with every type when first needed, or oidc.E001 says why
    missing = keys.missing_algorithms()
    if not missing:
        return []
    named = " and ".join(f"{alg} ({keys.KEY_TYPES[alg]})" for alg in missing)
    return [
        checks.Warning(
            f"The OpenID Connect keyset has no active {named} key: apps and APIs set to {' or '.join(missing)} "
            "get no tokens (503), and none can be set to it.",
            hint=keys.missing_key_fix(),
            id="oidc.W002",
        )
    ]


def signing_keys_ready() -> None:
    problem = keys.keyset_problem()
    if problem is not None:
        raise NotReady(problem.reason)


@checks.register(STARTUP)
def api_scopes_setting_retired(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """OIDC_API_SCOPES was read once, by migration oidc 0007 (APIs and their scopes moved into the
    admin); left set, it would look as if it still decided something."""
    if "OIDC_API_SCOPES" not in os.environ:
        return []
    return [
        checks.Warning(
            "OIDC_API_SCOPES is no longer read: APIs and their scopes are registered in the admin (docs/apis.md).",
            hint="Unset OIDC_API_SCOPES once the migrations have run.",
            id="oidc.W001",
        )
    ]


# What oidc.rotation assumes of django-oauth-toolkit's settings: it rotates on every refresh, treats a
# spent token presented again as a replay (no grace period) and revokes the family. Changed, DOT's own
# path would honour them and ours would silently not.
ROTATION_SETTINGS = {
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
}


@checks.register(checks.Tags.security, STARTUP)
def refresh_rotation_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    provider = settings.OAUTH2_PROVIDER
    changed = {name: provider.get(name) for name, value in ROTATION_SETTINGS.items() if provider.get(name) != value}
    if not changed:
        return []
    return [
        checks.Error(
            f"OAUTH2_PROVIDER sets {', '.join(f'{name}={value!r}' for name, value in changed.items())}: refresh-token "
            "rotation (oidc.rotation) always rotates, has no grace period and revokes the family of a replayed token.",
            hint=f"Keep {ROTATION_SETTINGS} (identity/settings.py).",
            id="oidc.E002",
        )
    ]
