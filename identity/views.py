"""Error pages. They render without the session, so they still work when Redis or the database is down."""

import sys

import redis
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

# Failures of a backing service: the page answers 503 "temporarily unavailable", never 500, and the
# user is never silently treated as signed out.
# On a Redis Cluster, also a master that is down or failing over (CLUSTERDOWN, MASTERDOWN), slots being
# moved (TRYAGAIN), and a slot no node serves.
DEPENDENCY_ERRORS = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.exceptions.ClusterError,
    redis.exceptions.TryAgainError,
    redis.exceptions.SlotNotCoveredError,
    OperationalError,
    InterfaceError,
)


def is_dependency_outage(exc: BaseException | None) -> bool:
    while exc is not None:
        if isinstance(exc, DEPENDENCY_ERRORS):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def error_page(status: int, title: str, message: str, **headers: str) -> HttpResponse:
    context = {"site_name": settings.SITE_NAME, "title": title, "message": message}
    response = HttpResponse(render_to_string("errors/page.html", context), status=status)
    for name, value in headers.items():
        response[name] = value
    return response


def service_unavailable() -> HttpResponse:
    return error_page(
        503,
        _("Temporarily unavailable"),
        _("We cannot serve this page right now. Nothing you entered has been lost; please try again in a minute."),
        **{"Retry-After": "30"},
    )


def wait_phrase(seconds: int) -> str:
    """How long to wait, said honestly and roughly: 'about 3 minutes'."""
    if seconds < 90:
        return ngettext("%(n)d second", "%(n)d seconds", seconds) % {"n": seconds}
    if seconds < 90 * 60:
        minutes = round(seconds / 60)
        return ngettext("about %(n)d minute", "about %(n)d minutes", minutes) % {"n": minutes}
    hours = round(seconds / 3600)
    return ngettext("about %(n)d hour", "about %(n)d hours", hours) % {"n": hours}


def too_many_requests(retry_after: int | None) -> HttpResponse:
    """The 429 page; `retry_after` None: a refusal that waiting does not lift (no Retry-After)."""
    if retry_after is None:
        return error_page(
            429, _("Too many attempts"), _("To protect accounts, this is paused. Please try again later.")
        )
    return error_page(
        429,
        _("Too many attempts"),
        _("To protect accounts, this is paused for a moment. Please try again in %(wait)s.")
        % {"wait": wait_phrase(retry_after)},
        **{"Retry-After": str(retry_after)},
    )


def server_error(request) -> HttpResponse:
    """Django's handler500; it runs inside the `except` that caught the error, so we can tell outages apart."""
    if is_dependency_outage(sys.exc_info()[1]):
        return service_unavailable()
    return error_page(
        500,
        _("Something went wrong"),
        _("An unexpected error stopped this page. It has been logged; please try again."),
    )


def bad_request(request, exception) -> HttpResponse:
    return error_page(
        400,
        _("Request not understood"),
        _("Something about this request was not right, or your session ended meanwhile. Go back and try again."),
    )


def page_not_found(request, exception) -> HttpResponse:
    return error_page(404, _("Page not found"), _("There is nothing at this address."))


def csrf_failure(request, reason: str = "") -> HttpResponse:
    return error_page(
        403,
        _("Form expired"),
        _("This form was open too long or came from another site. Go back, reload the page and try again."),
    )
