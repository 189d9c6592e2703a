import time

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from .flows.signin import sign_out
from .signin_state import signin_state


class SessionLifetimeMiddleware:
    """Ends a signed-in session once its absolute lifetime is over, however active it has been,
    and keeps the session's "last seen" time (to the minute) for the security page.

    The idle timeout needs no code: the session's Redis TTL is the idle limit and each request renews it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            now = int(time.time())
            # A signed-in session that does not know when it began is treated as expired (fail closed).
            state = signin_state(request)
            if now - (state.signed_in_at or 0) > settings.SESSION_ABSOLUTE_LIFETIME:
                sign_out(request)
                messages.info(request, _("Your session has expired. Please sign in again."))
                return redirect(settings.LOGIN_URL)
            info = state.info
            if info is not None and now - info.seen >= 60:  # "last seen" for the security page
                state.seen(now)
        return self.get_response(request)
