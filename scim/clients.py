"""Who is calling: the SCIM client whose bearer token the request carries, within its rate limits.

Wrong tokens are counted per address, so guessing is slow (besides hopeless: 256 random bits); a
right token is never refused for its address's wrong ones (provisioners share cloud addresses), and a
known client is counted on its own, so one busy provisioner cannot starve another.
Both refusals answer as SCIM errors (429 with Retry-After, identity.refusals)."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from scim2_models import UnauthorizedException

from identity import ratelimit
from identity.net import client_ip, rate_limit_subject

from .models import ScimClient, token_hash

LAST_USED_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often per client
TOO_MANY = _("Too many requests. Try again in %(wait)s.")


def _refusal(refused: ratelimit.RateLimited, limit: str) -> ratelimit.RateLimited:
    return refused.saying(str(TOO_MANY), audit=ratelimit.Audit(user=None, reason=limit), answer="scim")


def authenticate(request) -> ScimClient:
    """The active client of the request's bearer token, or UnauthorizedException (401)."""
    scheme, _space, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    client = None
    if scheme.lower() == "bearer" and token:
        client = ScimClient.objects.filter(token_hash=token_hash(token), revoked_at__isnull=True).first()
    if client is None:
        # Only wrong tokens are counted and refused per address: Entra ID and Okta call from cloud
        # addresses shared by every tenant, so a stranger's wrong token must not hold up a real client.
        try:
            ratelimit.hit(("scim-token-ip", rate_limit_subject(client_ip(request))))
        except ratelimit.RateLimited as refused:
            raise _refusal(refused, "scim-token-ip") from None
        raise UnauthorizedException(detail="A valid SCIM client token is required (Authorization: Bearer ...).")
    try:
        ratelimit.hit(("scim-client", str(client.pk)))
    except ratelimit.RateLimited as refused:
        raise _refusal(refused, "scim-client") from None
    now = timezone.now()
    ScimClient.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_EVERY), pk=client.pk
    ).update(last_used_at=now)
    return client
