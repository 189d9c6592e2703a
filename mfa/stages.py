"""How mfa plugs into sign-in (registered in MfaConfig.ready): its kinds of second factor, and the stage
that asks for one after the password, or sends someone policy requires one from to set it up."""

from __future__ import annotations

from django.urls import reverse

from accounts import stages
from accounts.stages import FactorKind, must_have_mfa

from .policy import has_second_factor, passkeys, totp_devices

# Set when a sign-in completes for someone who must use a second factor and holds none: until they
# enrol one, EnrolmentRequiredMiddleware lets them do nothing else (factor_added lifts it).
MFA_ENROLMENT_REQUIRED = "accounts.mfa_enrolment_required"
# Where that person was going (a local path: the sign-in's `next`, or the page the middleware turned
# them away from), to continue to once a factor is set up: the admin site, or the app that sent them.
MFA_SETUP_NEXT = "accounts.mfa_setup_next"

FACTOR_KINDS = (
    FactorKind("otp", held_by=lambda user: totp_devices(user).exists()),
    FactorKind("recovery"),  # backs up the others: holding codes alone is no second factor
    # A user-verified passkey is multi-factor on its own (something you have, plus PIN or biometrics):
    # as the first factor it passes the stage too. Every passkey here is discoverable (passkeys/auth.py
    # requires a resident key), so each one signs in without a password.
    FactorKind("passkey", held_by=lambda user: passkeys(user).exists(), signs_in_alone=True),
)


class SecondFactorStage(stages.SigninStage):
    def pending_url(self, user, methods: set[str]) -> str | None:
        if methods & stages.second_factors() or not has_second_factor(user):
            return None
        return reverse("mfa:challenge")

    def after_signin_url(self, request, user, methods: set[str], next_url: str = "") -> str | None:
        if methods & stages.second_factors() or not must_have_mfa(user):
            return None
        request.session[MFA_ENROLMENT_REQUIRED] = True
        if next_url:
            request.session[MFA_SETUP_NEXT] = next_url
        return reverse("mfa:totp_add")


def register() -> None:
    for kind in FACTOR_KINDS:
        stages.add_factor_kind(kind)
    stages.add_stage(SECOND_FACTOR_STAGE)


SECOND_FACTOR_STAGE = SecondFactorStage()
