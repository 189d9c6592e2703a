"""How federation answers what accounts announces."""

from django.dispatch import receiver

from accounts.signals import credentials_disowned

from .linking import remove_disowned_links


@receiver(credentials_disowned, dispatch_uid="federation-credentials-disowned")
def on_credentials_disowned(sender, request, user, added, **kwargs):
    remove_disowned_links(request, user, added.get("fed", []))
