from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class RecoveryCode(models.Model):
    """One single-use recovery code, stored as a keyed hash (never in clear, unlike django-otp's
    static tokens). The codes are random and long, so a fast keyed hash is enough."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("recovery code")
        verbose_name_plural = _("recovery codes")
        constraints = [models.UniqueConstraint(fields=["user", "code_hash"], name="recovery_code_unique")]


class Passkey(models.Model):
    """A WebAuthn credential. All of a user's passkeys share one random, opaque user handle."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="passkeys")
    user_handle = models.BinaryField(max_length=64)
    credential_id = models.BinaryField(max_length=1024, unique=True)
    public_key = models.BinaryField()
    sign_count = models.PositiveBigIntegerField(default=0)
    transports = models.JSONField(default=list, blank=True)
    aaguid = models.CharField(max_length=36, blank=True)
    backup_eligible = models.BooleanField(default=False)
    backed_up = models.BooleanField(default=False)
    name = models.CharField(_("name"), max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("passkey")
        verbose_name_plural = _("passkeys")
        indexes = [models.Index(fields=["user_handle"], name="passkey_user_handle_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def synced(self) -> bool:
        """Multi-device (synced by a password manager or platform) rather than bound to one device."""
        return self.backup_eligible


class PasskeyOwner(models.Model):
    """The one WebAuthn user handle of a person: random, opaque, shared by all their passkeys."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="passkey_owner")
    handle = models.BinaryField(max_length=64, unique=True)
