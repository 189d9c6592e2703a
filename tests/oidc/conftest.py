"""Fixtures for the OIDC tests: a confidential and a public relying party (relying_party.py)."""

from __future__ import annotations

import pytest

from oidc.models import Client
from tests.oidc.relying_party import RelyingParty, register


@pytest.fixture
def rp(db) -> RelyingParty:
    client, secret = register()
    return RelyingParty(client, secret)


@pytest.fixture
def public_rp(db) -> RelyingParty:
    client, _ = register("Public app", client_type=Client.CLIENT_PUBLIC)
    return RelyingParty(client, None)
