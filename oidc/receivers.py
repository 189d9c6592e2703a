"""Accounts and directory events that end what relying apps were granted."""

from django.dispatch import receiver

from accounts.signals import access_revoked, sessions_ended
from directory.signals import access_reduced

from . import revocation


@receiver(sessions_ended, dispatch_uid="oidc-sessions-ended")
def on_sessions_ended(sender, user_id, refs, **kwargs):
    revocation.revoke_sessions(user_id, refs)


@receiver(access_revoked, dispatch_uid="oidc-access-revoked")
def on_access_revoked(sender, user, keep_refs=(), **kwargs):
    revocation.revoke_user(user, keep_refs=keep_refs)


@receiver(access_reduced, dispatch_uid="oidc-access-reduced")
def on_access_reduced(sender, user, app, assignment_lost, **kwargs):
    revocation.revoke_reduced_access(user, app, assignment_lost=assignment_lost)
