from django.conf import settings

from .logging import redact


def site(request):
    return {"site_name": settings.SITE_NAME, "token_in_url": redact(request.path) != request.path}
