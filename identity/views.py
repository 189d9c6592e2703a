"""Error pages. They render without the session, so they still work when Redis or the database is down."""

import sys
from urllib.parse import urlencode

import redis
from django.conf import settings
from django.contrib import messages
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.flows.signin import begin_step_up, holds_second_factor, safe_next_url

# Failures of a backing service: the page answers 503 "temporarily unavailable", never 500, and the
# user is never silently treated as signed out.
DEPENDENCY_ERRORS = (redis.ConnectionError, redis.TimeoutError, OperationalError, InterfaceError)


def is_dependency_outage(exc: BaseException | None) -> bool:
    while exc is not None:
        if isinstance(exc, DEPENDENCY_ERRORS):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _error_page(status: int, title: str, message: str, **headers: str) -> HttpResponse:
    context = {"site_name": settings.SITE_NAME, "title": title, "message": message}
    response = HttpResponse(render_to_string("errors/page.html", context), status=status)
    for name, value in headers.items():
        response[name] = value
    return response


def service_unavailable() -> HttpResponse:
    return _error_page(
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


def render_throttled(request, template: str, context: dict, retry_after: int, message: str) -> HttpResponse:
    """A throttled form: the same page again, with the wait explained, as 429 with Retry-After."""
    response = render(request, template, {**context, "throttled": message}, status=429)
    response["Retry-After"] = str(retry_after)
    return response


def too_many_requests(retry_after: int) -> HttpResponse:
    return _error_page(
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
    return _error_page(
        500, _("Something went wrong"), _("An unexpected error stopped this page. It has been logged; please try again.")
    )


def bad_request(request, exception) -> HttpResponse:
    return _error_page(
        400,
        _("Request not understood"),
        _("Something about this request was not right, or your session ended meanwhile. Go back and try again."),
    )


def page_not_found(request, exception) -> HttpResponse:
    return _error_page(404, _("Page not found"), _("There is nothing at this address."))


def csrf_failure(request, reason: str = "") -> HttpResponse:
    return _error_page(
        403,
        _("Form expired"),
        _("This form was open too long or came from another site. Go back, reload the page and try again."),
    )


def admin_login(request):
    """Admins sign in through the same front door as everyone, with the same MFA. A staff session that
    lacks the second factor policy requires (say, one enrolled in this very session, which counts only
    once used) is offered a step-up with it; a person without one is told what is missing."""
    from django.contrib import admin

    next_url = safe_next_url(request.GET.get("next")) or "/admin/"
    if request.user.is_authenticated and admin.site.has_permission(request):
        return redirect(next_url)
    if request.user.is_authenticated and not request.user.is_staff:
        return _error_page(403, _("No access"), _("Your account cannot use the administration site."))
    if request.user.is_authenticated and holds_second_factor(request.user):
        messages.info(request, _("The administration site needs your second factor in this session. Confirm it's you to continue."))
        return redirect(begin_step_up(request, next_url))
    if request.user.is_authenticated:
        return _error_page(
            403,
            _("Two-step verification needed"),
            _("The administration site needs a sign-in with two-step verification. Sign out, then sign in again with your second factor."),
        )
    query = urlencode({"next": next_url})
    return redirect(f"{reverse('accounts:signin')}?{query}")
