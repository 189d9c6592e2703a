"""Accounts events that end what relying apps were granted."""

from django.dispatch import receiver

from accounts.signals import access_revoked, sessions_ended

from . import revocation


@receiver(sessions_ended, dispatch_uid="oidc-sessions-ended")
def on_sessions_ended(sender, user_id, refs, **kwargs):
    revocation.revoke_sessions(user_id, refs)


@receiver(access_revoked, dispatch_uid="oidc-access-revoked")
def on_access_revoked(sender, user, keep_refs=(), **kwargs):
    revocation.revoke_user(user, keep_refs=keep_refs)
