"""scim2-tester, the SCIM compliance checker, against a live server over HTTP (the one live server of
these tests: the checker is an HTTP client of its own). Its result is recorded in docs/scim.md."""

from __future__ import annotations

import collections
import socket
import uuid

import httpx2
import pytest
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import check_server, filling
from scim2_tester.checkers import patch_add, patch_replace
from scim2_tester.utils import Status

from tests.scim.helpers import make_client

# What the checker finds, and why each is so (docs/scim.md, "scim2-tester"): (resource type, check, reason).
EXPLAINED = {
    # `active` is whether the person may sign in; leaving it out changes nothing (a removal that
    # reactivated a deactivated person would undo a deprovisioning), so it cannot be removed.
    ("User", "check_remove_attribute", "Attribute 'active' was not removed"),
    # A member's `display` is the person's name (or address) as we know it, not the client's text.
    ("Group", "check_add_attribute", "Attribute 'members' was not added or has unexpected value"),
    ("Group", "check_replace_attribute", "Attribute 'members' was not replaced or has unexpected value"),
}
FAILED = {Status.ERROR, Status.CRITICAL}


def explained(result) -> bool:
    return any(
        (result.resource_type, result.title) == (kind, check) and (result.reason or "").startswith(reason)
        for kind, check, reason in EXPLAINED
    )


@pytest.fixture
def addresses_as_user_names(monkeypatch):
    """Our userName is the person's email address (docs/scim.md); the checker fills it with a UUID,
    which we refuse (400). So it is told to send an address there, as Entra ID and Okta do."""
    original = filling.generate_random_value

    def generate(context, path, *args, **kwargs):
        value = original(context, path, *args, **kwargs)
        if str(path).lower().endswith("username") and value is not None:
            return f"{uuid.uuid4().hex}@example.com"
        return value

    for module in (filling, patch_add, patch_replace):
        monkeypatch.setattr(module, "generate_random_value", generate)


@pytest.mark.django_db(transaction=True)
def test_scim2_tester_finds_no_error(live_server, generous_limits, addresses_as_user_names):
    _client, token = make_client("scim2-tester", any_account=False)
    # httpx sends a request's headers and body in two writes: without TCP_NODELAY the body waits for the
    # server's delayed ACK, 40 ms for each of the checker's hundreds of POSTs, PUTs and PATCHes.
    transport = httpx2.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
    with httpx2.Client(
        base_url=f"{live_server.url}/scim/v2", headers={"Authorization": f"Bearer {token}"}, transport=transport
    ) as http:
        results = check_server(SyncSCIMClient(http))
    print("scim2-tester:", dict(collections.Counter(result.status.name for result in results)))
    for result in results:
        if result.status is not Status.SUCCESS:
            print(result.status.name, result.resource_type, result.title, "::", result.reason)
    failures = [
        f"{result.resource_type or '-'} {result.title}: {result.reason}"
        for result in results
        if result.status in FAILED and not explained(result)
    ]
    assert not failures, "\n".join(failures)
    assert sum(result.status is Status.SUCCESS for result in results) >= 128
