"""How much a sign-in through a provider proves here, and the name it is shown with ("via Acme").

An upstream sign-in is one factor (`fed`). It counts as two only where an admin trusts the provider's
second factors (`Provider.trust_upstream_mfa`, off by default) and the validated ID token's `amr`
(RFC 8176) says the person used more than a password there. Then the sign-in also records
`upstream_mfa`, a factor kind registered `signin_only` (accounts/stages.py): it passes the
second-factor stage and the MFA policy (MFA_REQUIRED, the account's flag, staff and the admin site) for
that sign-in, our relying apps see `amr` ["fed", "mfa"] and the mfa level, but it never
re-authenticates here (adding or removing a factor, "This wasn't me"): the account does not hold it,
nothing here checked it, and whoever controls the person's account at the provider (or the provider's
own admin) must not be able to change the factors that guard the account here.

Which `amr` values count, and why:

- `mfa`: the provider says outright that several factors were used (RFC 8176 section 2). Entra ID,
  Okta, Auth0 and Identity itself send it. A trusted provider's own word is taken, whatever else the
  list names: we cannot check what it did either way, and trusting it is what the admin chose.
- Without `mfa`, a possession factor of the kinds we accept ourselves (`otp`: an authenticator app or a
  single-use code; `hwk`, `swk`, `pop`: a key held in hardware or software, such as a security key or a
  passkey; `sc`: a smart card) together with a knowledge or inherence factor (`pwd`, `pin`, `fpt`,
  `face`, `iris`, `retina`, `vbm`). That is what Keycloak's amr mapper sends (["pwd", "otp"]). Either
  kind alone is one factor: a sign-in with a code or a security key only.
- Never on their own: `sms` and `tel` (a code by text message or call, which NIST SP 800-63B restricts:
  SIM swap, number porting; every second factor we offer is stronger), `kba` (security questions, which
  SP 800-63B forbids), `user` (RFC 8176: presence, not verification), `geo`, `rba`, `mca`, `wia`, `fed`
  (the provider itself trusted another), and any value outside the registry (`fido`, `ngcmfa`: their
  meaning is the provider's; Entra ID, which uses them, sends `mfa` as well).
- An `amr` that is not a list, or entries that are not strings, count as nothing: one factor.

`acr` is not read: its values are each provider's own vocabulary, and naming the trusted ones would need
a setting per provider (not built).
"""

from __future__ import annotations

from typing import Any

from accounts import stages
from accounts.stages import FactorKind

from .models import Provider

UPSTREAM_MFA = "upstream_mfa"
FACTOR_KIND = FactorKind(UPSTREAM_MFA, held_by=None, signin_only=True)

MFA = "mfa"
POSSESSION = frozenset({"otp", "hwk", "swk", "pop", "sc"})
KNOWLEDGE_OR_INHERENCE = frozenset({"pwd", "pin", "fpt", "face", "iris", "retina", "vbm"})


def shows_second_factor(amr: Any) -> bool:
    """Whether an ID token's `amr` says more than a password was used (see the module's docstring)."""
    if not isinstance(amr, list):
        return False
    values = {value for value in amr if isinstance(value, str)}
    return MFA in values or bool(values & POSSESSION and values & KNOWLEDGE_OR_INHERENCE)


def vouched_factors(provider: Provider, claims: dict[str, Any]) -> tuple[str, ...]:
    """The second factors this sign-in records beside `fed`: the provider's, only where it is trusted."""
    if provider.trust_upstream_mfa and shows_second_factor(claims.get("amr")):
        return (UPSTREAM_MFA,)
    return ()


def signin_facts(provider: Provider, claims: dict[str, Any]) -> dict[str, Any]:
    """What a sign-in through `provider` tells accounts' `begin_signin` besides the person: the
    provider's name as it is now (the history, the new-device mail, the audit trail say "via Acme"),
    and the second factor it vouched for, if trusted."""
    return {"via": provider.name, "vouched": vouched_factors(provider, claims)}


def register() -> None:
    stages.add_factor_kind(FACTOR_KIND)
