"""Accounts and directory events that end SAML sign-ons (and tell the SPs that take SOAP logout)."""

from django.dispatch import receiver

from accounts.signals import access_revoked, sessions_ended
from directory.signals import access_reduced


# saml.logout is imported when an event comes, not with the app: it loads pysaml2, whose XML schemas
# take about a second to load (every process start would pay it; tests/saml/test_library_hooks.py).
@receiver(sessions_ended, dispatch_uid="saml-sessions-ended")
def on_sessions_ended(sender, user_id, refs, **kwargs):
    from . import logout  # see above

    logout.sessions_ended(user_id, refs)


@receiver(access_revoked, dispatch_uid="saml-access-revoked")
def on_access_revoked(sender, user, keep_refs=(), **kwargs):
    from . import logout  # see above

    logout.access_revoked(user, keep_refs=keep_refs)


@receiver(access_reduced, dispatch_uid="saml-access-reduced")
def on_access_reduced(sender, user, app, assignment_lost, **kwargs):
    from . import logout  # see above

    logout.access_reduced(user, app, assignment_lost=assignment_lost)
