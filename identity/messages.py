"""Where Django's messages ("You have signed out.") wait for the next page: a signed cookie.

Never the session: a message to someone signed out (after sign-out, an expired sign-in, an app's
logout) would create a Redis session for each such request, and anonymous requests must not be able
to fill Redis. The cookie is signed (so a sibling site cannot plant a message) and, like the other
cookies, HttpOnly and __Host- prefixed outside development.
"""

from django.contrib.messages.storage.cookie import CookieStorage

from .cookies import cookie_name


class MessageCookieStorage(CookieStorage):
    @property
    def cookie_name(self) -> str:  # type: ignore[override]  # depends on the settings at each use
        return cookie_name("messages")
