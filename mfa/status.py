"""Whether two-step verification is on, with which factors, in words: the security page's summary and
the confirmation pages' "stays on with ..." / "turns off" say the same thing from the same counts."""

from __future__ import annotations

from dataclasses import dataclass, replace

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.stages import must_have_mfa

from .policy import passkeys, recovery_codes_left, totp_devices


@dataclass(frozen=True)
class MfaStatus:
    apps: int
    passkeys: int
    recovery_left: int
    required: bool

    @property
    def on(self) -> bool:
        return self.apps + self.passkeys > 0

    @property
    def factors(self) -> str:
        """'1 authenticator app, 2 passkeys, recovery codes (8 left)'."""
        parts = []
        if self.apps:
            parts.append(ngettext("%(n)d authenticator app", "%(n)d authenticator apps", self.apps) % {"n": self.apps})
        if self.passkeys:
            parts.append(ngettext("%(n)d passkey", "%(n)d passkeys", self.passkeys) % {"n": self.passkeys})
        if self.on:
            left = self.recovery_left
            parts.append(ngettext("recovery codes (%(n)d left)", "recovery codes (%(n)d left)", left) % {"n": left})
        return ", ".join(parts)

    @property
    def summary(self) -> str:
        if self.on:
            return _("Two-step verification is on: %(factors)s.") % {"factors": self.factors}
        return _("Two-step verification is off.")

    @property
    def if_last_removed(self) -> str:
        """What removing the last authenticator app or passkey would mean for this account."""
        if self.required:
            return _(
                "Your organisation requires two-step verification for this account: its last authenticator app "
                "or passkey cannot be removed until you add another."
            )
        return _(
            "If you remove the last authenticator app or passkey, two-step verification turns off: you sign in "
            "with your password alone, and your recovery codes stop working."
        )

    def without(self, *, app: bool = False, passkey: bool = False) -> MfaStatus:
        """The status once one authenticator app or passkey is gone (recovery codes go with the last one)."""
        after = replace(self, apps=self.apps - app, passkeys=self.passkeys - passkey)
        return after if after.on else replace(after, recovery_left=0)

    @property
    def after_removal(self) -> str:
        """For a confirmation page, given `without(...)`: what two-step verification is then."""
        if self.on:
            return _("Two-step verification stays on with: %(factors)s.") % {"factors": self.factors}
        return _(
            "Two-step verification turns off: you will sign in with your password alone, and your recovery "
            "codes stop working."
        )


def mfa_status(user) -> MfaStatus:
    return MfaStatus(
        apps=totp_devices(user).count(),
        passkeys=passkeys(user).count(),
        recovery_left=recovery_codes_left(user),
        required=must_have_mfa(user),
    )
