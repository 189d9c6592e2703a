"""What a person changes about themselves that is no credential: the name apps are told, the language."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from ..audit import record_event
from ..models import SecurityEvent, User


def change_display_name(request, user: User, name: str) -> bool:
    """Set the name relying apps receive (`name` in ID tokens and userinfo, SAML's displayName, SCIM's
    displayName). No re-authentication: a name grants nothing. Returns False when nothing changed."""
    if name == user.display_name:
        return False
    with transaction.atomic():
        user.display_name = name
        user.save(update_fields=["display_name"])
        record_event(request, SecurityEvent.Kind.NAME_CHANGED, user)
    return True


def remember_language(user: User, language: str) -> None:
    """Keep the switcher's choice on the account, so it follows the person to other browsers and their
    mail is written in it (see queue_mail)."""
    if language in dict(settings.LANGUAGES) and language != user.language:
        User.objects.filter(pk=user.pk).update(language=language)
        user.language = language
