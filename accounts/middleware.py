import time

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect
from django.utils import translation
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


class AccountLanguageMiddleware:
    """A signed-in person's chosen language (User.language) follows them to every browser: it wins over
    the language cookie and Accept-Language for the request, and the cookie is set to it, so the pages
    before the next sign-in speak it too. Without a stored choice LocaleMiddleware's answer stands.
    After the session middleware's user is loaded anyway (SessionLifetimeMiddleware), so it costs no query."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        chosen = remembered_language(request)
        if chosen:
            translation.activate(chosen)
            request.LANGUAGE_CODE = chosen
        response = self.get_response(request)
        if settings.LANGUAGE_COOKIE_NAME in response.cookies:  # the switcher just set it
            return response
        if chosen and request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME) != chosen:
            remember_language_cookie(response, chosen)
        return response


def remembered_language(request) -> str:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return ""
    chosen = getattr(user, "language", "")
    return chosen if chosen in dict(settings.LANGUAGES) else ""


def remember_language_cookie(response, language: str) -> None:
    """The cookie Django's set_language writes, with the same settings."""
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )
