from .logging import redact
from .ratelimit import RateLimited
from .refusals import respond


class RateLimitMiddleware:
    """Answers a RateLimited raised anywhere in a view (the 429 page with Retry-After, or the JSON or
    OAuth error it says), audited once: identity.refusals."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, RateLimited):
            return None
        return respond(request, exception)


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
