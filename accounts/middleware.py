import time

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from .flows.signin import SESSION_INFO, SIGNED_IN_AT, sign_out


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
            if now - request.session.get(SIGNED_IN_AT, 0) > settings.SESSION_ABSOLUTE_LIFETIME:
                sign_out(request)
                messages.info(request, _("Your session has expired. Please sign in again."))
                return redirect(settings.LOGIN_URL)
            info = request.session.get(SESSION_INFO)
            if info is not None and now - info.get("seen", 0) >= 60:  # "last seen" for the security page
                request.session[SESSION_INFO] = {**info, "seen": now}
        return self.get_response(request)
