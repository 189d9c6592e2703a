"""The settings only accounts reads, with their defaults, each from the environment variable of the
same name (README's configuration table). Read them as `app_settings.NAME`: a Django setting of that
name wins (a test's override), see identity.env.AppSettings. accounts.E001 checks MFA_REQUIRED."""

from __future__ import annotations

from identity.env import AppSettings, env


class AccountsSettings(AppSettings):
    # Argon2id at OWASP's recommended floor (19 MiB, 2 passes, 1 lane); hashes made with other
    # parameters are re-hashed at the next successful sign-in.
    ARGON2_MEMORY_COST_KIB: int = env.int("ARGON2_MEMORY_COST_KIB", 19456)
    ARGON2_TIME_COST: int = env.int("ARGON2_TIME_COST", 2)
    ARGON2_PARALLELISM: int = env.int("ARGON2_PARALLELISM", 1)

    # New passwords are checked against Have I Been Pwned's range API (k-anonymity: a 5-character hash
    # prefix is sent). If it does not answer in time, Django's common-password list decides (fail-open).
    PASSWORD_BREACH_CHECK: bool = env.bool("PASSWORD_BREACH_CHECK", True)
    PASSWORD_BREACH_CHECK_URL: str = env.str("PASSWORD_BREACH_CHECK_URL", "https://api.pwnedpasswords.com/range/")
    PASSWORD_BREACH_CHECK_TIMEOUT: float = env.float("PASSWORD_BREACH_CHECK_TIMEOUT", 1.5)

    EMAIL_VERIFICATION_TIMEOUT: int = env.int("EMAIL_VERIFICATION_TIMEOUT", 24 * 3600)
    # A "This wasn't me" link in a mail about a credential event: days, not minutes (people read such
    # mail late), and single use.
    NOT_ME_LINK_TIMEOUT: int = env.int("NOT_ME_LINK_TIMEOUT", 7 * 24 * 3600)
    # Past the password cap, a code mailed to the verified address (with the password) signs in; it
    # lives this long.
    SIGNIN_CODE_TIMEOUT: int = env.int("SIGNIN_CODE_TIMEOUT", 15 * 60)
    # Sensitive actions need a sign-in or re-authentication at most this many seconds ago.
    REAUTHENTICATION_TIMEOUT: int = env.int("REAUTHENTICATION_TIMEOUT", 600)

    # Who must use a second factor: "off" (those who chose one), "staff", or "all"; admins can also
    # require it per user. People who must and have none enrol right after their password. It is
    # accounts' policy (stages.must_have_mfa), whichever app provides the factors.
    MFA_REQUIRED: str = env.str("MFA_REQUIRED", "staff").lower()
    # A password sign-in waiting for its second factor is forgotten after this many seconds.
    MFA_PENDING_TIMEOUT: int = env.int("MFA_PENDING_TIMEOUT", 300)
    # After this many refused second steps (each after a right password) within the period of the
    # "warning-mail" rate limit, the owner is told their password is known; one such mail per period.
    MFA_FAILURE_MAIL_AFTER: int = env.int("MFA_FAILURE_MAIL_AFTER", 3)

    # Outbox rows still unsent this many seconds after they were written are enqueued again, up to
    # this many attempts.
    MAIL_SWEEP_AFTER: int = env.int("MAIL_SWEEP_AFTER", 120)
    MAIL_MAX_ATTEMPTS: int = env.int("MAIL_MAX_ATTEMPTS", 20)


app_settings = AccountsSettings()
