"""What a session has proved about who holds it, and when: the one typed view of the sign-in state.

The session engine, the sign-in flow, mfa and the OIDC provider read and write this state through this
module only, never by session key. It is a leaf: it imports nothing of Identity's, so any layer may use
it. The stored shape is plain JSON (Django's session serializer), the same as before it had a type:

- `accounts.auth_methods`: the factors proved, each `{"method", "at", ...facts}`; `later` marks one
  proved after the sign-in (a step-up or re-authentication), `id` the credential's row, `key` a
  passkey's kind ("hwk" device-bound, "swk" synced), `via` the name of the provider a sign-in went
  through ("Acme", as it was then).
- `accounts.signed_in_at`: when the sign-in completed (the OIDC `auth_time`, the absolute lifetime).
- `accounts.pending_signin`: a sign-in (or step-up) waiting for its next factor.
- `accounts.session_ref`: a stable random reference to the session (OIDC `sid`), never its key.
- `accounts.session_info`: the device, address and last-seen time, for the security page.
- `accounts.previous_signin`: the sign-in before this one (`at`, `browser`, `system`), for the account
  page.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

SIGNED_IN_AT = "accounts.signed_in_at"
AUTH_METHODS = "accounts.auth_methods"
SESSION_INFO = "accounts.session_info"
PENDING_SIGNIN = "accounts.pending_signin"
PREVIOUS_SIGNIN = "accounts.previous_signin"
SESSION_REF = "accounts.session_ref"

Session = MutableMapping[str, Any]


@dataclass(frozen=True)
class Factor:
    """A proved factor and when. `later`: proved after the sign-in (step-up, re-authentication), next
    to (never instead of) what the sign-in proved. `id`: the credential's row (a passkey or an
    authenticator app), so a recovery can tell which ones the person at this session holds. `key`: a
    passkey's kind, for the OIDC `amr`. `via`: the name of the identity provider a sign-in went
    through, as it was then, for "via Acme" in the history and the new-device mail."""

    method: str
    at: int
    later: bool = False
    id: int | None = None
    key: str | None = None
    via: str | None = None

    @classmethod
    def now(cls, method: str, **facts: Any) -> Factor:
        return cls(method=method, at=int(time.time()), **facts)

    def to_json(self) -> dict[str, Any]:
        """Only the facts there are, as they were always stored (`later` only when true)."""
        stored = {"method": self.method, "at": self.at}
        if self.later:
            stored["later"] = True
        if self.id is not None:
            stored["id"] = self.id
        if self.key is not None:
            stored["key"] = self.key
        if self.via is not None:
            stored["via"] = self.via
        return stored

    @classmethod
    def from_json(cls, stored: Mapping[str, Any]) -> Factor:
        return cls(
            method=stored["method"],
            at=int(stored["at"]),
            later=bool(stored.get("later", False)),
            id=stored.get("id"),
            key=stored.get("key"),
            via=stored.get("via"),
        )

    def within(self, seconds: float, now: float | None = None) -> bool:
        return (time.time() if now is None else now) - self.at <= seconds


@dataclass(frozen=True)
class PendingSignin:
    """A sign-in waiting for its next factor, or (`step_up`) a signed-in person asked for one more;
    `reauth`: that step-up confirms it's them before a sensitive change. `password` is the account's
    session auth hash when it began: a password reset meanwhile voids it, like Django's sessions."""

    user: int
    id: str
    started: int
    next: str
    password: str
    factors: tuple[Factor, ...] = ()
    step_up: bool = False
    reauth: bool = False

    @classmethod
    def begin(
        cls, user_id: int, password_hash: str, factors: Iterable[Factor], next_url: str, **kind: bool
    ) -> PendingSignin:
        return cls(
            user=user_id,
            id=secrets.token_hex(8),
            started=int(time.time()),
            next=next_url,
            password=password_hash,
            factors=tuple(factors),
            **kind,
        )

    def to_json(self) -> dict[str, Any]:
        stored = {**asdict(self), "factors": [factor.to_json() for factor in self.factors]}
        for flag in ("step_up", "reauth"):
            if not stored[flag]:
                del stored[flag]
        return stored

    @classmethod
    def from_json(cls, stored: Mapping[str, Any]) -> PendingSignin:
        return cls(
            user=stored["user"],
            id=stored["id"],
            started=int(stored["started"]),
            next=stored.get("next", ""),
            password=stored.get("password", ""),
            factors=tuple(Factor.from_json(entry) for entry in stored.get("factors", [])),
            step_up=bool(stored.get("step_up", False)),
            reauth=bool(stored.get("reauth", False)),
        )

    def expired(self, timeout: float) -> bool:
        return time.time() - self.started > timeout


@dataclass(frozen=True)
class SessionInfo:
    """The device and address a session signed in from, and when it was last seen (to the minute)."""

    ip: str = ""
    ua: str = ""
    seen: int = 0


@dataclass(frozen=True)
class PreviousSignin:
    """The sign-in before this session's: when, and its browser and system (described in the page's
    language when shown). `device`: that description, as sessions stored it before (in the language of
    their sign-in). `via`: the identity provider it went through, if any."""

    at: int
    browser: str = ""
    system: str = ""
    device: str = ""
    via: str = ""


_PREVIOUS_FACTS = frozenset(fact.name for fact in fields(PreviousSignin))


@dataclass
class SigninState:
    """The sign-in state of one session (a request's session, or a stored one read by the engine)."""

    session: Session = field(repr=False)

    # --- the factors proved ------------------------------------------------------------------
    @property
    def factors(self) -> list[Factor]:
        return [Factor.from_json(entry) for entry in self.session.get(AUTH_METHODS, [])]

    def methods(self) -> set[str]:
        """Every method proved, at the sign-in or later."""
        return {factor.method for factor in self.factors}

    def signin_methods(self) -> set[str]:
        """What the sign-in itself proved (not a later step-up or re-authentication)."""
        return {factor.method for factor in self.factors if not factor.later}

    def recent_methods(self, seconds: float) -> set[str]:
        now = time.time()
        return {factor.method for factor in self.factors if factor.within(seconds, now)}

    def proved_ids(self) -> dict[str, set[int]]:
        """Which credentials (by row id, per method) this session proved, at its sign-in or later."""
        proved: dict[str, set[int]] = {}
        for factor in self.factors:
            if factor.id is not None:
                proved.setdefault(factor.method, set()).add(factor.id)
        return proved

    def record_signin(self, factors: Iterable[Factor], info: SessionInfo) -> None:
        """A completed sign-in: what it proved and when; the session keeps its reference across key
        rotations (the OIDC `sid` stays the same)."""
        now = int(time.time())
        self.session[SIGNED_IN_AT] = now
        self.session[AUTH_METHODS] = [factor.to_json() for factor in factors]
        self.session[SESSION_INFO] = asdict(replace(info, seen=now))
        self.session.setdefault(SESSION_REF, secrets.token_urlsafe(16))

    def add_later(self, factor: Factor) -> None:
        """One `later` entry per method, with its latest time, so nothing the sign-in proved is pushed out."""
        later = replace(factor, later=True)
        kept = [entry for entry in self.factors if not (entry.method == later.method and entry.later)]
        self.session[AUTH_METHODS] = [entry.to_json() for entry in [*kept, later]]

    # --- when, and which session ----------------------------------------------------------------
    @property
    def signed_in_at(self) -> int | None:
        return self.session.get(SIGNED_IN_AT)

    @property
    def ref(self) -> str:
        return self.session.get(SESSION_REF, "")

    @property
    def info(self) -> SessionInfo | None:
        stored = self.session.get(SESSION_INFO)
        return SessionInfo(**stored) if stored is not None else None

    def seen(self, now: int) -> None:
        info = self.info
        if info is not None:
            self.session[SESSION_INFO] = asdict(replace(info, seen=now))

    @property
    def previous_signin(self) -> PreviousSignin | None:
        stored = self.session.get(PREVIOUS_SIGNIN)
        if not stored:
            return None
        # Facts a newer release added are skipped, so a rolling deploy's older worker still reads them.
        return PreviousSignin(**{name: value for name, value in stored.items() if name in _PREVIOUS_FACTS})

    @previous_signin.setter
    def previous_signin(self, previous: PreviousSignin) -> None:
        self.session[PREVIOUS_SIGNIN] = {key: value for key, value in asdict(previous).items() if value}

    # --- the sign-in waiting for a factor -----------------------------------------------------
    @property
    def pending(self) -> PendingSignin | None:
        stored = self.session.get(PENDING_SIGNIN)
        return PendingSignin.from_json(stored) if stored else None

    @pending.setter
    def pending(self, pending: PendingSignin | None) -> None:
        if pending is None:
            self.session.pop(PENDING_SIGNIN, None)
        else:
            self.session[PENDING_SIGNIN] = pending.to_json()


def signin_state(request) -> SigninState:
    return SigninState(request.session)
