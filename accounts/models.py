from __future__ import annotations

import unicodedata

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def normalize_email(address: str) -> str:
    """Trim, apply Unicode NFKC and lower-case the domain; the local part keeps its case."""
    address = unicodedata.normalize("NFKC", address or "").strip()
    local, at, domain = address.rpartition("@")
    if not at:
        return address
    return f"{local}@{domain.lower()}"


class EmailAddressField(models.EmailField):
    """An email column that can be matched case-insensitively through `__lower`, using the unique index."""


EmailAddressField.register_lookup(Lower)


class UserManager(BaseUserManager):
    use_in_migrations = True

    def get_by_email(self, address: str) -> User:
        return self.get(email__lower=normalize_email(address).lower())

    def get_by_natural_key(self, address: str) -> User:
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


class User(AbstractBaseUser, PermissionsMixin):
    """A person. The email address is the sign-in identifier; there are no usernames."""

    # unique=True satisfies Django's USERNAME_FIELD check; the constraint below is what makes it
    # unique regardless of case.
    email = EmailAddressField(_("email address"), max_length=254, unique=True)
    display_name = models.CharField(_("display name"), max_length=150, blank=True)
    email_verified = models.BooleanField(_("email verified"), default=False)
    is_active = models.BooleanField(
        _("active"), default=True, help_text=_("Inactive accounts cannot sign in.")
    )
    is_staff = models.BooleanField(
        _("staff"), default=False, help_text=_("Staff can sign in to the admin site.")
    )
    date_joined = models.DateTimeField(_("joined"), default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

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

    def check_password(self, raw_password: str) -> bool:
        return super().check_password(unicodedata.normalize("NFKC", raw_password or ""))


class OutboxMail(models.Model):
    """A mail to send, written in the same transaction as the change that caused it.

    Rows hold no secrets: links with tokens are minted when the mail is rendered for sending.
    """

    class Kind(models.TextChoices):
        VERIFY_EMAIL = "verify_email", _("Verify your email")
        ACCOUNT_EXISTS = "account_exists", _("Account already exists")
        PASSWORD_RESET = "password_reset", _("Password reset")
        PASSWORD_CHANGED = "password_changed", _("Password changed")

    kind = models.CharField(_("kind"), max_length=40, choices=Kind.choices)
    user = models.ForeignKey(
        User, on_delete=models.CASCADE, null=True, blank=True, related_name="+", verbose_name=_("user")
    )
    to = models.EmailField(_("to"), max_length=254)
    language = models.CharField(_("language"), max_length=16, default="en")
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        verbose_name = _("outgoing mail")
        verbose_name_plural = _("mail outbox")
        indexes = [
            models.Index(
                fields=["created_at"], name="outbox_unsent_idx", condition=models.Q(sent_at__isnull=True)
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → {self.to}"

    @property
    def state(self) -> str:
        if self.sent_at:
            return _("sent")
        return _("retrying") if self.attempts else _("pending")
