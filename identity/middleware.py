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


# Pages whose URL carries (or just carried) a token: nothing about them leaves in a Referer header.
TOKEN_PATH_PREFIXES = ("/accounts/verify/", "/accounts/password/reset/", "/accounts/email/confirm/")


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
        if request.path.startswith(TOKEN_PATH_PREFIXES):
            response["Referrer-Policy"] = "no-referrer"
        return response
