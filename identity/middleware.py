from .logging import redact
from .ratelimit import RateLimited
from .views import too_many_requests


class RateLimitMiddleware:
    """Turns a RateLimited raised anywhere in a view into the 429 page with Retry-After."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, RateLimited):
            return None
        from accounts.audit import record_throttled
        from accounts.models import SecurityEvent

        if exception.audited:
            return too_many_requests(exception.retry_after)
        user = request.user if request.user.is_authenticated else None
        record_throttled(request, SecurityEvent.Kind.THROTTLED, user, reason=",".join(exception.limits)[:40])
        return too_many_requests(exception.retry_after)



class SecurityHeadersMiddleware:
    """The headers Django and django-csp do not set: Permissions-Policy, and no-referrer on token pages."""

    PERMISSIONS_POLICY = (
        "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), "
        "payment=(), usb=(), publickey-credentials-create=(self), publickey-credentials-get=(self)"
    )

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.setdefault("Permissions-Policy", self.PERMISSIONS_POLICY)
        # A URL with a token in it (the same patterns the logs scrub): it never leaves in a Referer. The
        # token-free confirmation pages keep same-origin, or their POSTs would carry `Origin: null`.
        if redact(request.path) != request.path:
            response["Referrer-Policy"] = "no-referrer"
        return response
