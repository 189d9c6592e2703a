"""How and when the person in this session authenticated, in OpenID Connect's words.

`amr` (RFC 8176) lists only factors actually proved in this session; `acr` names the level reached:

    urn:identity:loa:1fa   one factor (a password, or a sign-in through another provider: `fed`)
    urn:identity:loa:mfa   two factors (one of those, and an authenticator app or recovery code, or
                           the provider's own second factor where an admin trusts it: amr fed, mfa)
    phr                    phishing-resistant (a user-verified passkey; OpenID EAP ACR Values)

Factors proved at sign-in count for the whole session. A factor proved later (a step-up asked for
by `acr_values` or by the admin site, or a re-authentication) counts for OIDC_STEP_UP_TIMEOUT seconds
only. A factor merely enrolled in this session is not there at all (mfa/flows.py `factor_added`): it
counts once it is used.
"""

from __future__ import annotations

import time

from accounts import stages
from accounts.signin_state import Factor, SigninState

from .app_settings import app_settings

ACR_1FA = "urn:identity:loa:1fa"
ACR_MFA = "urn:identity:loa:mfa"
ACR_PHR = "phr"
LEVELS = {ACR_1FA: 1, ACR_MFA: 2, ACR_PHR: 3}
ACR_VALUES_SUPPORTED = list(LEVELS)

# Recovery codes are single-use codes: RFC 8176's "otp" is the honest name for them too. A sign-in
# through another provider is RFC 8176's "fed", one factor on its own (federation/). A second factor
# the provider vouched for (a kind registered `signin_only`, where an admin trusts the provider's) names
# no method of its own: we did not see which it was, so only "mfa" says that there were two.
AMR_BY_METHOD = {"pwd": ["pwd"], "fed": ["fed"], "otp": ["otp"], "recovery": ["otp"]}
FIRST_FACTORS = frozenset({"pwd", "fed"})


def counted_factors(session) -> list[Factor]:
    now = time.time()
    return [
        factor
        for factor in SigninState(session).factors
        if not factor.later or factor.within(app_settings.OIDC_STEP_UP_TIMEOUT, now)
    ]


def amr_for(factors: list[Factor]) -> list[str]:
    amr: list[str] = []
    for factor in factors:
        if factor.method == "passkey":
            # A synced passkey's key material leaves the device; a device-bound one does not.
            values = [factor.key or "hwk", "user"]
        else:
            values = AMR_BY_METHOD.get(factor.method, [])
        amr.extend(value for value in values if value not in amr)
    if level_of(factors) >= LEVELS[ACR_MFA]:
        amr.append("mfa")
    return amr


def level_of(factors: list[Factor]) -> int:
    methods = {factor.method for factor in factors}
    if "passkey" in methods:
        return LEVELS[ACR_PHR]
    if methods & FIRST_FACTORS and methods & stages.second_factors():
        return LEVELS[ACR_MFA]
    return LEVELS[ACR_1FA] if methods else 0


def required_level(acr_values: str | None) -> int:
    """The lowest level that satisfies the request: any one listed value will do. Unknown values are
    ignored (acr is a voluntary claim), so a request naming none we know asks for nothing."""
    known = [LEVELS[value] for value in (acr_values or "").split() if value in LEVELS]
    return min(known) if known else 0


def acr_for(level: int, acr_values: str | None) -> str:
    """The acr to report: a requested value the session satisfies (the strongest), else the level's own."""
    satisfied = [value for value in (acr_values or "").split() if value in LEVELS and LEVELS[value] <= level]
    if satisfied:
        return max(satisfied, key=LEVELS.__getitem__)
    return next(name for name, value in LEVELS.items() if value == level)


def auth_context(session, acr_values: str | None = None) -> dict:
    """What goes into the ID token: auth_time, amr, acr and the session reference (sid)."""
    factors = counted_factors(session)
    level = level_of(factors)
    state = SigninState(session)
    return {
        "auth_time": state.signed_in_at,
        "amr": amr_for(factors),
        "acr": acr_for(level, acr_values) if level else "",
        "sid": state.ref,
    }


def session_level(session) -> int:
    return level_of(counted_factors(session))
