"""Where Django's messages ("You have signed out.") wait for the next page: a signed cookie.

Never the session: a message to someone signed out (after sign-out, an expired sign-in, an app's
logout) would create a Redis session for each such request, and anonymous requests must not be able
to fill Redis. The cookie is signed (so a sibling site cannot plant a message) and, like the other
cookies, HttpOnly and __Host- prefixed outside development.
"""

from django.conf import settings
from django.contrib.messages.storage.cookie import CookieStorage


class MessageCookieStorage(CookieStorage):
    @property
    def cookie_name(self) -> str:
        return "__Host-messages" if settings.SESSION_COOKIE_SECURE else "messages"
