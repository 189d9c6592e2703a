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
