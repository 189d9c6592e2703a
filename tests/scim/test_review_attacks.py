"""Attacks found in review of the SCIM server: what a holder of a token (or a neighbour of one) tried
that used to work, or answered a 500, and must not."""

from __future__ import annotations

import pytest

from accounts.flows.lifecycle import deactivate_user, delete_user
from accounts.models import SecurityEvent, User
from directory.models import Group
from tests.scim.helpers import SCIM_JSON, Scim, make_client, new_group, new_user

pytestmark = pytest.mark.django_db


def test_wrong_tokens_from_a_shared_address_do_not_lock_out_the_right_client(settings):
    """Entra ID and Okta provision from shared cloud addresses: anyone's tenant pointed at us with a
    wrong token must not hold up a real client's deprovisioning from the same address."""
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "scim-token-ip": "3/h"}
    _client, token = make_client()
    guesser = Scim("scim_" + "A" * 43)
    assert [guesser.get("Users").status_code for _ in range(4)] == [401, 401, 401, 429]
    assert Scim(token).get("Users").status_code == 200
    assert guesser.get("Users").status_code == 429


@pytest.mark.parametrize("resource", ["Users", "Groups"])
def test_a_start_index_past_any_page_is_an_empty_page_not_a_500(resource):
    scim = Scim(make_client()[1])
    listed = scim.get(resource, startIndex="99999999999999999999")
    assert listed.status_code == 200 and listed.json()["Resources"] == []


@pytest.mark.parametrize(
    ("resource", "body"),
    [
        ("Users", new_user(displayName="a\x00b")),
        ("Users", new_user(externalId="a\x00b")),
        ("Users", new_user(nickName="a\x00b")),
        ("Users", new_user(emails=[{"value": "a\x00b@example.com"}])),
        ("Groups", new_group("a\x00b")),
        ("Groups", new_group("Sales", externalId="a\x00b")),
    ],
)
def test_a_nul_character_is_refused_with_400_not_a_500(resource, body):
    """PostgreSQL stores no NUL character in text or JSON: refused as bad input before any write."""
    scim = Scim(make_client()[1])
    refused = scim.post(resource, body)
    assert refused.status_code == 400 and refused.json()["scimType"] == "invalidValue"
    assert not User.objects.exists() and not Group.objects.exists()


def test_a_nul_character_in_a_patch_is_refused_with_400_and_changes_nothing():
    scim = Scim(make_client()[1])
    person = scim.post("Users", new_user(displayName="Grace")).json()["id"]
    refused = scim.patch(f"Users/{person}", [{"op": "replace", "path": "displayName", "value": "a\x00b"}])
    assert refused.status_code == 400 and User.objects.get(subject=person).display_name == "Grace"


def test_a_deeply_nested_patch_is_a_400_not_a_500():
    """Our rewrite of Entra's member removals reads the body first: its JSON parser must not crash."""
    token = make_client()[1]
    scim = Scim(token)
    group = scim.post("Groups", new_group()).json()["id"]
    nested = "[" * 100_000 + "]" * 100_000
    body = '{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ' + nested + "}"
    headers = {"Authorization": f"Bearer {token}"}
    refused = scim.browser.patch(f"/scim/v2/Groups/{group}", body, content_type=SCIM_JSON, headers=headers)
    assert refused.status_code == 400 and refused.json()["scimType"] == "invalidSyntax"


def test_a_body_over_the_upload_limit_is_a_scim_413(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    scim = Scim(make_client()[1])
    refused = scim.post("Users", new_user(nickName="x" * 2000))
    assert refused.status_code == 413 and refused["Content-Type"] == SCIM_JSON
    assert refused.json()["status"] == "413" and not User.objects.exists()


def test_deleting_an_admins_account_keeps_who_did_what_on_others_trails(make_admin, make_user):
    """An admin who leaves is deleted; what they did to others' accounts must still name them."""
    admin, person = make_admin("helpdesk@example.com"), make_user("person@example.com")
    deactivate_user(person, actor=admin)
    delete_user(admin, actor=make_admin("root2@example.com"))
    event = SecurityEvent.objects.get(user=person, kind=SecurityEvent.Kind.ADMIN_DEACTIVATED)
    assert event.actor is None and f"helpdesk@example.com ({admin.subject})" == event.former_actor
