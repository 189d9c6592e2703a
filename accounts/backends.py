from django.contrib.auth.backends import ModelBackend

from .models import normalize_email


class EmailBackend(ModelBackend):
    """Password sign-in by email.

    An unknown address still runs the password hasher (ModelBackend does this), so the response time
    does not tell an attacker which addresses have accounts.
    """

    def authenticate(  # type: ignore[override]  # takes email too; Django passes credentials by keyword
        self, request, email: str | None = None, password: str | None = None, username=None, **kwargs
    ):
        email = email if email is not None else username
        if email is None or password is None:
            return None
        return super().authenticate(request, username=normalize_email(email), password=password)
