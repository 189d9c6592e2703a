"""How accounts answers what identity announces."""

from django.dispatch import receiver

from identity.refusals import throttled

from .audit import record_throttled


@receiver(throttled, dispatch_uid="accounts-throttled")
def on_throttled(sender, request, kind, user, method, reason, **kwargs):
    record_throttled(request, kind, user, method=method, reason=reason)
