"""Admin actions on whole accounts."""

from __future__ import annotations

from ..models import User
from ..sessions import end_user_sessions


def deactivate_user(user: User) -> None:
    """Refuse all future sign-ins and end every current session."""
    User.objects.filter(pk=user.pk).update(is_active=False)
    user.is_active = False
    end_user_sessions(user.pk)


def reactivate_user(user: User) -> None:
    User.objects.filter(pk=user.pk).update(is_active=True)
    user.is_active = True
