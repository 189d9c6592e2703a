from __future__ import annotations

import unicodedata
import uuid
from typing import TYPE_CHECKING, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from identity.net import describe_device

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

from .app_settings import app_settings


def normalize_email(address: str | None) -> str:
    """Trim, apply Unicode NFKC and lower-case the domain; the local part keeps its case."""
    address = unicodedata.normalize("NFKC", address or "").strip()
    local, at, domain = address.rpartition("@")
    if not at:
        return address
    return f"{local}@{domain.lower()}"


class EmailAddressField(models.EmailField):
    """An email column that can be matched case-insensitively through `__lower`, using the unique index."""


EmailAddressField.register_lookup(Lower)


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def get_by_email(self, address: str | None) -> User:
        return self.get(email__lower=normalize_email(address).lower())

    def get_by_natural_key(self, address: str | None) -> User:
        return self.get_by_email(address)

    def create_user(self, email: str, password: str | None = None, **fields) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=normalize_email(email), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields) -> User:
        fields.setdefault("is_staff", True)
        fields.setdefault("is_superuser", True)
        fields.setdefault("email_verified", True)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):  # type: ignore[django-manager-missing]  # oidc.Client's (DOT, untyped)
    """A person. The email address is the sign-in identifier; there are no usernames."""

    # unique=True satisfies Django's USERNAME_FIELD check; the constraint below is what makes it
    # unique regardless of case.
    email = EmailAddressField(_("email address"), max_length=254, unique=True)
    display_name = models.CharField(_("display name"), max_length=150, blank=True)
    # The language the person chose with the switcher (a LANGUAGES code), or "" to follow the browser's.
    language = models.CharField(_("language"), max_length=16, blank=True)
    email_verified = models.BooleanField(_("email verified"), default=False)
    is_active = models.BooleanField(_("active"), default=True, help_text=_("Inactive accounts cannot sign in."))
    is_staff = models.BooleanField(_("staff"), default=False, help_text=_("Staff can sign in to the admin site."))
    date_joined = models.DateTimeField(_("joined"), default=timezone.now)
    passkey_offered = models.BooleanField(
        _("offered a passkey"), default=False, help_text=_("Was shown the offer to add a passkey.")
    )
    mfa_required = models.BooleanField(
        _("MFA required"), default=False, help_text=_("This person must sign in with a second factor.")
    )
    # Who this person is to relying apps (the OpenID Connect `sub`): stable, opaque, never reused, and
    # neither the email address (which changes) nor the database id (which is guessable).
    subject = models.UUIDField(_("subject"), default=uuid.uuid4, unique=True, editable=False)
    # When the profile last changed (address, name, active): a provisioning client's meta.lastModified.
    # Flows that write with .update() set it themselves; sign-ins (last_login) leave it alone.
    updated_at = models.DateTimeField(_("last changed"), default=timezone.now, db_index=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = normalize_email(self.email)

    PROFILE_FIELDS = frozenset({"email", "display_name", "is_active"})

    def save(self, *args, **kwargs) -> None:
        """A save that may change the profile moves `updated_at`; one of other fields only does not."""
        update_fields = kwargs.get("update_fields")
        if update_fields is None or self.PROFILE_FIELDS & set(update_fields):
            self.updated_at = timezone.now()
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "updated_at"}
        super().save(*args, **kwargs)

    def get_full_name(self) -> str:
        return self.display_name or self.email

    def get_short_name(self) -> str:
        return self.display_name or self.email

    # NIST SP 800-63B asks verifiers to normalise Unicode passwords, so that the same password typed on
    # two keyboards produces the same bytes. NFKC is idempotent, so re-hashing on upgrade is safe.
    def set_password(self, raw_password: str | None) -> None:
        if raw_password is not None:
            raw_password = unicodedata.normalize("NFKC", raw_password)
        super().set_password(raw_password)

    def check_password(self, raw_password: str | None) -> bool:
        return super().check_password(unicodedata.normalize("NFKC", raw_password or ""))


class OutboxMail(models.Model):
    """A mail to send, written in the same transaction as the change that caused it.

    Links with tokens are minted once, by the worker that first claims the row, and kept in `links`
    until the mail is sent (so a retry sends the same link, never a second one); then they are erased.
    """

    class Kind(models.TextChoices):
        VERIFY_EMAIL = "verify_email", _("Verify your email")
        ACCOUNT_EXISTS = "account_exists", _("Account already exists")
        PASSWORD_RESET = "password_reset", _("Password reset")
        PASSWORD_CHANGED = "password_changed", _("Password changed")
        MFA_CHANGED = "mfa_changed", _("Two-step verification changed")
        NEW_DEVICE = "new_device", _("Sign-in from a new device")
        EMAIL_CHANGE = "email_change", _("Confirm a new email address")
        EMAIL_CHANGED = "email_changed", _("Email address changed")
        MFA_FAILURES = "mfa_failures", _("Password known, second step failed")
        PASSKEY_CLONED = "passkey_cloned", _("A copy of a passkey may exist")
        SIGNIN_CODE = "signin_code", _("Sign-in code")
        UPSTREAM_CHANGED = "upstream_changed", _("Sign-in provider linked or unlinked")
        ACCOUNT_DELETED = "account_deleted", _("Account deleted")

    kind = models.CharField(_("kind"), max_length=40, choices=Kind.choices)
    user = models.ForeignKey(
        User, on_delete=models.CASCADE, null=True, blank=True, related_name="+", verbose_name=_("user")
    )
    to = models.EmailField(_("to"), max_length=254)
    language = models.CharField(_("language"), max_length=16, default="en")
    # What the mail reports (when, from where, which device); never a token or password.
    context = models.JSONField(_("context"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    # A worker sending the row holds it until this time; after a crash it may be sent again only then.
    claimed_until = models.DateTimeField(_("claimed until"), null=True, blank=True)
    claim = models.CharField(_("claim"), max_length=32, blank=True)
    # The links (with tokens) minted at the first attempt, erased once sent: never shown in admin.
    links = models.JSONField(_("links"), default=dict, blank=True, editable=False)

    class Meta:
        verbose_name = _("outgoing mail")
        verbose_name_plural = _("mail outbox")
        indexes = [
            models.Index(fields=["created_at"], name="outbox_unsent_idx", condition=models.Q(sent_at__isnull=True))
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → {self.to}"

    @property
    def state(self) -> StrOrPromise:
        if self.sent_at:
            return _("discarded") if self.user_id is None else _("sent")
        if self.attempts >= app_settings.MAIL_MAX_ATTEMPTS:
            return _("failed")
        return _("retrying") if self.attempts else _("pending")


class SecurityEvent(models.Model):
    """The audit trail: what happened to an account, when, from where. Never a secret."""

    class Kind(models.TextChoices):
        SIGNIN_SUCCEEDED = "signin_succeeded", _("Signed in")
        SIGNIN_FAILED = "signin_failed", _("Sign-in failed")
        SIGNIN_THROTTLED = "signin_throttled", _("Sign-in throttled")
        SIGNED_OUT = "signed_out", _("Signed out")
        REAUTHENTICATED = "reauthenticated", _("Confirmed identity")
        PASSWORD_CHANGED = "password_changed", _("Password changed")
        PASSWORD_RESET_REQUESTED = "password_reset_requested", _("Password reset requested")
        PASSWORD_RESET = "password_reset", _("Password reset")
        EMAIL_VERIFIED = "email_verified", _("Email verified")
        EMAIL_CHANGE_REQUESTED = "email_change_requested", _("Email change requested")
        EMAIL_CHANGED = "email_changed", _("Email changed")
        SESSION_ENDED = "session_ended", _("Session ended")
        OTHER_SESSIONS_ENDED = "other_sessions_ended", _("Other sessions ended")
        NOT_ME = "not_me", _("Reported unrecognised activity")
        THROTTLED = "throttled", _("Throttled")
        MFA_VERIFIED = "mfa_verified", _("Second factor accepted")
        MFA_FAILED = "mfa_failed", _("Second factor refused")
        MFA_ADDED = "mfa_added", _("Authenticator added")
        MFA_REMOVED = "mfa_removed", _("Authenticator removed")
        PASSKEY_RENAMED = "passkey_renamed", _("Passkey renamed")
        RECOVERY_CODES_GENERATED = "recovery_codes_generated", _("Recovery codes generated")
        ADMIN_MFA_RESET = "admin_mfa_reset", _("Two-step verification reset by an admin")
        ADMIN_DEACTIVATED = "admin_deactivated", _("Deactivated by an admin")
        ADMIN_REACTIVATED = "admin_reactivated", _("Reactivated by an admin")
        ADMIN_RESET_SENT = "admin_reset_sent", _("Reset mail sent by an admin")
        ADMIN_THROTTLE_CLEARED = "admin_throttle_cleared", _("Throttling cleared by an admin")
        ADMIN_SESSIONS_ENDED = "admin_sessions_ended", _("Sessions ended by an admin")
        ADMIN_EMAIL_UNVERIFIED = "admin_email_unverified", _("Email marked unverified by an admin")
        ADMIN_TOKENS_REVOKED = "admin_tokens_revoked", _("App access revoked by an admin")
        UPSTREAM_VERIFIED = "upstream_verified", _("Sign-in provider vouched")
        UPSTREAM_LINKED = "upstream_linked", _("Sign-in provider linked")
        UPSTREAM_UNLINKED = "upstream_unlinked", _("Sign-in provider unlinked")
        # The directory: what the person may do in relying apps (reason: the group, app or role).
        GROUP_JOINED = "group_joined", _("Added to a group")
        GROUP_LEFT = "group_left", _("Removed from a group")
        APP_ASSIGNED = "app_assigned", _("Assigned to an app")
        APP_UNASSIGNED = "app_unassigned", _("Unassigned from an app")
        ROLE_GIVEN = "role_given", _("App role given")
        ROLE_REMOVED = "role_removed", _("App role removed")
        APP_NOT_ASSIGNED = "app_not_assigned", _("Refused by an app: not assigned")
        APP_SIGNED_IN = "app_signed_in", _("Signed in to an app")
        APP_REFUSED = "app_refused", _("Refused by an app")
        ADMIN_DELETED = "admin_deleted", _("Deleted by an admin")
        SCIM_CREATED = "scim_created", _("Provisioned by a SCIM client")
        SCIM_CHANGED = "scim_changed", _("Changed by a SCIM client")
        SCIM_DEACTIVATED = "scim_deactivated", _("Deactivated by a SCIM client")
        SCIM_REACTIVATED = "scim_reactivated", _("Reactivated by a SCIM client")
        SCIM_DELETED = "scim_deleted", _("Deleted by a SCIM client")
        NAME_CHANGED = "name_changed", _("Name changed")
        DATA_EXPORTED = "data_exported", _("Data downloaded")
        ACCOUNT_DELETED = "account_deleted", _("Account deleted by its owner")

    at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    # Kept when the account is deleted: the trail must outlive what it describes.
    user = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="security_events", verbose_name=_("user")
    )
    kind = models.CharField(_("event"), max_length=40, choices=Kind.choices, db_index=True)
    method = models.CharField(_("method"), max_length=20, blank=True)  # pwd, passkey, otp, ...
    # Why it failed; on a "Signed in" event, the name of the identity provider the sign-in went through
    # (as it was then), shown as "via Acme".
    reason = models.CharField(_("reason"), max_length=40, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=300, blank=True)
    session_ref = models.CharField(_("session"), max_length=16, blank=True)
    actor = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("admin")
    )
    # The system that acted when no admin did: a SCIM client, by its name then.
    provisioner = models.CharField(_("provisioning client"), max_length=150, blank=True)
    # Whom the event was about, for the account's deletion: the row goes, so `user` becomes empty.
    former_account = models.CharField(_("deleted account"), max_length=300, blank=True)
    # Who acted, once that admin's account is deleted (`actor` becomes empty): by address and subject.
    former_actor = models.CharField(_("deleted admin"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("security event")
        verbose_name_plural = _("security events")
        ordering = ["-at"]
        indexes = [models.Index(fields=["user", "-at"], name="event_user_time_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.user or '-'} · {self.at:%Y-%m-%d %H:%M}"

    METHOD_NAMES = {
        "pwd": _("password"),
        "otp": _("authenticator app"),
        "recovery": _("recovery code"),
        "passkey": _("passkey"),
        "fed": _("sign-in provider"),
        "upstream_mfa": _("two-step verification at the provider"),
    }
    VIA_MAX_LENGTH = 40  # the reason column's

    @property
    def via(self) -> str:
        """The identity provider a sign-in went through ("Acme"), or ""."""
        return self.reason if self.kind == self.Kind.SIGNIN_SUCCEEDED else ""

    @property
    def method_display(self) -> str:
        """'password, authenticator app' for the stored 'pwd+otp'; 'via Acme, authenticator app' for a
        sign-in through the provider Acme."""
        via = self.via
        return ", ".join(
            _("via %(provider)s") % {"provider": via}
            if part == "fed" and via
            else str(self.METHOD_NAMES.get(part, part))
            for part in self.method.split("+")
            if part
        )

    @property
    def details(self) -> str:
        """The admin's one-line summary: "via Acme" for a sign-in through a provider, else the reason."""
        return _("via %(provider)s") % {"provider": self.via} if self.via else self.reason

    @property
    def device(self) -> str:
        return describe_device(self.user_agent)


class KnownDevice(models.Model):
    """A browser a user has signed in from, recognised by a long-lived random cookie (stored hashed)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="known_devices")
    token_hash = models.CharField(max_length=64)
    user_agent = models.CharField(max_length=300, blank=True)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "token_hash"], name="known_device_unique")]


class CredentialEvent(models.Model):
    """A change to how the account can be signed in to (a factor added, recovery codes, the address,
    a new browser), kept so that its owner can undo exactly it from the mail that told them: the
    "This wasn't me" link names one of these rows, and `used_at` makes it work once.

    `added` says what the change added: {"otp": [device ids], "passkey": [ids], "recovery": [code ids]},
    {"fed": [sign-in provider link ids]}, or {"previous_email": address}. `session_ref` is the stable
    reference of the session that made it; `told` is the address its mail went to, which is all its
    link proves (see accounts/flows/not_me.py).
    """

    class Kind(models.TextChoices):
        FACTOR_ADDED = "factor_added", _("Second factor added")
        RECOVERY_CODES = "recovery_codes", _("Recovery codes generated")
        EMAIL_CHANGED = "email_changed", _("Email address changed")
        NEW_DEVICE = "new_device", _("Sign-in from a new device")
        UPSTREAM_LINKED = "upstream_linked", _("Sign-in provider linked")

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="credential_events", verbose_name=_("user"))
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    added = models.JSONField(_("added"), default=dict, blank=True)
    session_ref = models.CharField(_("session"), max_length=32, blank=True, db_index=True)
    told = models.EmailField(_("mailed to"), blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    used_at = models.DateTimeField(_("undone"), null=True, blank=True)

    class Meta:
        verbose_name = _("credential event")
        verbose_name_plural = _("credential events")
        indexes = [models.Index(fields=["user", "-created_at"], name="credential_event_user_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.user_id} · {self.created_at:%Y-%m-%d %H:%M}"
