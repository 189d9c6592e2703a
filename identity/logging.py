"""Structured logs: one JSON object per line, each with the request id and (when known) the user id,
and with secrets scrubbed from anything that reaches a log line."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import uuid

from django.core.signals import request_finished

from identity.net import from_trusted_proxy

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
user_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("user_id", default="")

# Token-bearing URL paths (verification, reset, email change) and secret-looking key=value pairs.
_KEY = r"(?:\w*password\w*|\w*token|secret|code|csrfmiddlewaretoken)"
_SECRET_PATTERNS = [
    (re.compile(r"(accounts/verify/)(?!confirm/|resend/)[^/\s\"'?]+"), r"\1[redacted]"),
    (re.compile(r"(accounts/email/confirm/)[^/\s\"'?]+"), r"\1[redacted]"),
    (re.compile(r"(accounts/password/reset/[^/\s\"'?]+/)(?!set-password)[^/\s\"'?]+"), r"\1[redacted]"),
    # Quoted values ("password": "correct horse battery"), whole, spaces included.
    (re.compile(r"([\"']?" + _KEY + r"[\"']?\s*[=:]\s*)([\"'])(.*?)\2", re.I), r"\1\2[redacted]\2"),
    # Unquoted values (password=hunter2&next=...), up to the next separator.
    (re.compile(r"(\b" + _KEY + r"\s*[=:]\s*)(?![\"'\s])[^\s&,;}]+", re.I), r"\1[redacted]"),
]


def redact(text: str) -> str:
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if request_id_var.get():
            entry["request_id"] = request_id_var.get()
        if user_id_var.get():
            entry["user_id"] = user_id_var.get()
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,128}$")


class RequestIdMiddleware:
    """Tags the request (and every log line it causes) with an id, taken from X-Request-ID only when a
    trusted proxy sent it, and returns it in the response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request.id = incoming if from_trusted_proxy(request) and _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        # Not reset on the way out: Django logs 4xx/5xx responses after the middleware has returned.
        # request_finished clears them instead (see clear_request_context).
        request_id_var.set(request.id)
        user_id_var.set("")
        response = self.get_response(request)
        response["X-Request-ID"] = request.id
        return response


def clear_request_context(**kwargs) -> None:
    request_id_var.set("")
    user_id_var.set("")


request_finished.connect(clear_request_context, dispatch_uid="identity.logging.clear_request_context")


class UserIdLogMiddleware:
    """After authentication: log lines name the user, by id only (never the email)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and "_auth_user_id" in getattr(request, "session", {}):
            user_id_var.set(str(request.session["_auth_user_id"]))
        return self.get_response(request)
