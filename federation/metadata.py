"""Providers' discovery documents and keys (JWKS), kept in Django's cache (Redis) for
FEDERATION_METADATA_TTL seconds, so a sign-in does not fetch them twice (the start and the callback)
and every process shares them.

An entry remembers the address it was read from: a provider whose issuer changed never gets the old
one's document. Saving or deleting a provider forgets its entries (the receiver below), so a change
in admin or by the command applies at once. A key set is fetched again before its time only when an
ID token names a key it lacks (the provider rotated its keys), and then at most once per
FEDERATION_JWKS_REFETCH_INTERVAL per provider: tokens naming made-up keys cannot make us hammer the
provider."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .app_settings import app_settings
from .models import Provider

DISCOVERY, JWKS, REFETCHED = "discovery", "jwks", "jwks-refetched"


def _key(provider: Provider, what: str) -> str:
    return f"federation:{provider.pk}:{what}"


def cached(provider: Provider, what: str, url: str, fetch: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The document `what` read from `url`: from the cache, or fetched (and checked: `fetch` raises on
    a bad one, which is then not kept) and kept."""
    entry = cache.get(_key(provider, what)) if provider.pk else None
    if isinstance(entry, dict) and entry.get("url") == url:
        return entry["value"]
    value = fetch()
    keep(provider, what, url, value)
    return value


def keep(provider: Provider, what: str, url: str, value: dict[str, Any]) -> None:
    if provider.pk:
        cache.set(_key(provider, what), {"url": url, "value": value}, app_settings.FEDERATION_METADATA_TTL)


def may_refetch_keys(provider: Provider) -> bool:
    """True at most once per FEDERATION_JWKS_REFETCH_INTERVAL per provider (atomic: cache.add)."""
    return bool(cache.add(_key(provider, REFETCHED), True, app_settings.FEDERATION_JWKS_REFETCH_INTERVAL))


def forget(provider: Provider) -> None:
    cache.delete_many([_key(provider, what) for what in (DISCOVERY, JWKS, REFETCHED)])


@receiver(post_save, sender=Provider, dispatch_uid="federation.metadata.forget_saved")
@receiver(post_delete, sender=Provider, dispatch_uid="federation.metadata.forget_deleted")
def _forget_changed(sender, instance: Provider, **kwargs) -> None:
    # Now, and once more after the commit: a sign-in running meanwhile may have cached what the old
    # row pointed at.
    forget(instance)
    transaction.on_commit(lambda: forget(instance))
