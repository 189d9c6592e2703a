import time

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from .flows.signin import SIGNED_IN_AT, sign_out


class SessionLifetimeMiddleware:
    """Ends a signed-in session once its absolute lifetime is over, however active it has been.

    The idle timeout needs no code: the session's Redis TTL is the idle limit and each request renews it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        signed_in_at = request.session.get(SIGNED_IN_AT) if request.user.is_authenticated else None
        if signed_in_at is not None and time.time() - signed_in_at > settings.SESSION_ABSOLUTE_LIFETIME:
            sign_out(request)
            messages.info(request, _("Your session has expired. Please sign in again."))
            return redirect(settings.LOGIN_URL)
        return self.get_response(request)
