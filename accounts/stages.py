"""What other apps plug into sign-in: kinds of factor, and stages after the first one.

accounts runs sign-in and never imports the apps that provide factors (the way django-allauth's
`account` never imports `mfa`): mfa registers its factor kinds and its second-factor stage in
`MfaConfig.ready()`, and the sign-in flow, re-authentication, the admin site and the OIDC provider ask
here. With nothing registered, a password is the whole sign-in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .app_settings import app_settings


@dataclass(frozen=True)
class FactorKind:
    """A kind of second factor, named by the method a session records when it is proved ("otp").
    `held_by`: whether an account holds one, so that its sign-in waits for it (None for a kind that
    only backs up the others, like recovery codes, or that no account holds here).

    `signin_only`: proved elsewhere and vouched for with the first factor (a trusted identity
    provider's own second factor): it passes the second-factor stage and the MFA policy for the sign-in
    it came with, but never re-authenticates here, since it is no factor the account holds and nothing
    here checked it (`reauthentication_factors`). `signs_in_alone`: one is a way into the account
    without a password (a passkey), so removing another way in may leave the account reachable."""

    method: str
    held_by: Callable[[Any], bool] | None = None
    signin_only: bool = False
    signs_in_alone: bool = False


class SigninStage:
    """A step a sign-in may need after its first factor, contributed by another app."""

    def pending_url(self, user, methods: set[str]) -> str | None:
        """Where a sign-in that proved `methods` must go before it completes (a pending sign-in waits
        meanwhile), or None when this stage has nothing to ask."""
        return None

    def after_signin_url(self, request, user, methods: set[str], next_url: str = "") -> str | None:
        """Where a completed sign-in must go first (say, to set up a factor policy requires); `next_url`
        is where it was going, for the stage to send the person on to afterwards."""
        return None


_kinds: dict[str, FactorKind] = {}
_stages: list[SigninStage] = []


def add_factor_kind(kind: FactorKind) -> None:
    _kinds[kind.method] = kind


def add_stage(stage: SigninStage) -> None:
    if stage not in _stages:
        _stages.append(stage)


def pending_url(user, methods: set[str]) -> str | None:
    """Where the first stage that still asks something sends a sign-in that proved `methods`."""
    return next((url for stage in _stages if (url := stage.pending_url(user, methods))), None)


def after_signin_url(request, user, methods: set[str], next_url: str = "") -> str | None:
    """Where the first stage that asks something sends a sign-in that just completed."""
    return next((url for stage in _stages if (url := stage.after_signin_url(request, user, methods, next_url))), None)


def second_factors() -> frozenset[str]:
    """The methods that count as a second factor."""
    return frozenset(_kinds)


def reauthentication_factors() -> frozenset[str]:
    """The second factors that confirm it's you again: all but those only vouched for at a sign-in."""
    return frozenset(method for method, kind in _kinds.items() if not kind.signin_only)


def signin_only_factors() -> frozenset[str]:
    return frozenset(method for method, kind in _kinds.items() if kind.signin_only)


def holds(user, method: str) -> bool:
    kind = _kinds.get(method)
    return kind is not None and kind.held_by is not None and kind.held_by(user)


def holds_second_factor(user) -> bool:
    """Whether the account holds a second factor, so its highest level is more than a password."""
    return any(kind.held_by(user) for kind in _kinds.values() if kind.held_by is not None)


def holds_factor_that_signs_in(user) -> bool:
    """Whether the account holds a factor that signs in without a password (a passkey): asked before
    another way in (a sign-in provider's link) is removed, so an account is never left with none."""
    return any(kind.held_by(user) for kind in _kinds.values() if kind.signs_in_alone and kind.held_by is not None)


def must_have_mfa(user) -> bool:
    """Whether policy requires a second factor of this account (MFA_REQUIRED, or the admin's flag)."""
    policy = app_settings.MFA_REQUIRED
    return user.mfa_required or policy == "all" or (policy == "staff" and user.is_staff)
