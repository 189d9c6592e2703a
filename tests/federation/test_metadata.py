"""Discovery documents and keys in the cache (federation/metadata.py), counted at the loopback provider:
fetched once for many sign-ins, again after the provider is saved, the keys again once when a token
names a new key (a rotation), and not again and again for tokens naming made-up keys."""

from __future__ import annotations

import secrets

import pytest
from django.test import Client

from accounts.models import User

from .browsing import sign_in_through, signed_in_as

pytestmark = pytest.mark.django_db

DISCOVERY, JWKS = "/.well-known/openid-configuration", "/jwks"


def signs_in(upstream) -> bool:
    browser = Client()
    sign_in_through(browser)
    return signed_in_as(browser) is not None


def test_two_sign_ins_fetch_discovery_and_keys_once(provider, upstream):
    assert signs_in(upstream) and signs_in(upstream)

    assert upstream.fetches[DISCOVERY] == 1 and upstream.fetches[JWKS] == 1


def test_saving_the_provider_forgets_what_was_cached(provider, upstream):
    assert signs_in(upstream)
    provider.name = "Acme SSO"
    provider.save()

    assert signs_in(upstream)
    assert upstream.fetches[DISCOVERY] == 2 and upstream.fetches[JWKS] == 2


def test_a_cached_document_is_not_used_for_another_issuer(provider, upstream):
    """Even if the provider changed without its save being seen (another process's cache), an entry
    read from another address is not taken."""
    from federation import metadata

    assert signs_in(upstream)
    forged = {"issuer": "https://elsewhere.example", "jwks_uri": "https://elsewhere.example/jwks"}
    metadata.keep(provider, metadata.DISCOVERY, "https://elsewhere.example/.well-known/openid-configuration", forged)

    assert signs_in(upstream) and upstream.fetches[DISCOVERY] == 2


def test_a_rotated_key_still_validates_after_one_fetch_of_the_keys(provider, upstream):
    assert signs_in(upstream)
    upstream.rotate_key()

    assert signs_in(upstream) and signs_in(upstream)
    assert upstream.fetches[JWKS] == 2 and upstream.fetches[DISCOVERY] == 1


def test_tokens_naming_made_up_keys_fetch_the_keys_again_at_most_once(provider, upstream, generous_limits):
    assert signs_in(upstream)
    for _ in range(8):
        upstream.misbehave.kid = secrets.token_hex(8)
        browser = Client()
        assert 'data-refusal="token"' in sign_in_through(browser).content.decode()

    assert upstream.fetches[JWKS] == 2 and User.objects.count() == 1


def test_a_rotation_right_after_a_refetch_waits_for_the_interval(provider, upstream):
    """The refetch is limited per provider, whoever caused it: a rotation within the interval after a
    made-up key's refetch is seen once the interval (or the cache's TTL) has passed, or when the
    provider is saved."""
    assert signs_in(upstream)
    upstream.misbehave.kid = "made-up"
    sign_in_through(Client())
    upstream.misbehave.kid = None
    upstream.rotate_key()

    assert not signs_in(upstream) and upstream.fetches[JWKS] == 2
    provider.save()
    assert signs_in(upstream) and upstream.fetches[JWKS] == 3


def test_the_metadata_ttl_is_a_setting(settings):
    from federation.app_settings import app_settings

    assert app_settings.FEDERATION_METADATA_TTL == 3600 and app_settings.FEDERATION_JWKS_REFETCH_INTERVAL == 60
