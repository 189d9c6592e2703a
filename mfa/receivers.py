"""How mfa answers what accounts announces."""

from django.dispatch import receiver

from accounts.signals import credentials_disowned

from .flows import remove_disowned_factors


@receiver(credentials_disowned, dispatch_uid="mfa-credentials-disowned")
def on_credentials_disowned(sender, request, user, added, **kwargs):
    remove_disowned_factors(request, user, added)
