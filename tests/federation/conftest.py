"""A real upstream provider (upstream.py) for every test here, and our Provider row pointing at it."""

from __future__ import annotations

import pytest

from federation.models import Provider

from .upstream import Upstream


@pytest.fixture
def upstream():
    server = Upstream().start()
    yield server
    server.stop()


@pytest.fixture
def provider(db, upstream) -> Provider:
    made = Provider(
        slug=upstream.slug,
        name="Acme",
        issuer=upstream.issuer,
        client_id=upstream.client_id,
        may_create_accounts=True,
    )
    made.client_secret = upstream.client_secret
    made.save()
    return made
