"""The request sequences Microsoft Entra ID and Okta send when they provision, as they send them
(their documented payloads, quirks included: capitalised op names, "$ref": null, a replace without a
path, Okta's id inside a group rename, readOnly attributes in a creation)."""

from __future__ import annotations

import pytest

from accounts.models import SecurityEvent, User
from directory.models import Group, Membership
from tests.scim.helpers import GROUP_SCHEMA, USER_SCHEMA, Scim, make_client

pytestmark = pytest.mark.django_db
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
Event = SecurityEvent.Kind


def test_entra_id_provisioning_cycle():
    client, token = make_client("Entra ID")
    scim = Scim(token)

    # Entra first asks whether the person exists, by userName.
    found = scim.get("Users", filter='userName eq "Test_User_ab6490ee@contoso.com"')
    assert found.status_code == 200 and found.json()["totalResults"] == 0

    created = scim.post(
        "Users",
        {
            "schemas": [USER_SCHEMA, ENTERPRISE],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": "Test_User_ab6490ee@contoso.com",
            "active": True,
            "emails": [{"primary": True, "type": "work", "value": "Test_User_ab6490ee@contoso.com"}],
            "meta": {"resourceType": "User"},
            "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
            "roles": [],
            ENTERPRISE: {"employeeNumber": "123", "department": "Sales"},
        },
    )
    assert created.status_code == 201, created.content
    user_id = created.json()["id"]
    person = User.objects.get(subject=user_id)
    assert person.email == "Test_User_ab6490ee@contoso.com" and person.email_verified
    assert not person.has_usable_password() and person.display_name == "givenName familyName"
    assert created.json()[ENTERPRISE]["department"] == "Sales"

    found = scim.get("Users", filter='userName eq "test_user_AB6490EE@contoso.com"')
    assert [r["id"] for r in found.json()["Resources"]] == [user_id]  # the address matches in any case
    by_external = scim.get("Users", filter='externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"')
    assert by_external.json()["totalResults"] == 1

    patched = scim.patch(
        f"Users/{user_id}",
        [
            {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
            {"op": "Replace", "path": "displayName", "value": "Given Updated"},
        ],
    )
    assert patched.status_code in (200, 204), patched.content
    person.refresh_from_db()
    assert person.display_name == "Given Updated"

    # Entra deprovisions with a capitalised "Replace" on active.
    assert scim.patch(f"Users/{user_id}", [{"op": "Replace", "path": "active", "value": False}]).status_code in (
        200,
        204,
    )
    person.refresh_from_db()
    assert not person.is_active
    # Entra apps made before its 2020 fix send booleans as strings.
    assert scim.patch(f"Users/{user_id}", [{"op": "Replace", "path": "active", "value": "True"}]).status_code == 204
    person.refresh_from_db()
    assert person.is_active
    assert scim.patch(f"Users/{user_id}", [{"op": "Replace", "path": "active", "value": "False"}]).status_code == 204
    person.refresh_from_db()
    assert not person.is_active

    # Groups: looked up by displayName without members, created empty, then members added one by one.
    assert scim.get("Groups", excludedAttributes="members", filter='displayName eq "Sales"').json()["totalResults"] == 0
    group = scim.post(
        "Groups",
        {
            "schemas": [GROUP_SCHEMA],
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "displayName": "Sales",
            "meta": {"resourceType": "Group"},
        },
    )
    assert group.status_code == 201, group.content
    group_id = group.json()["id"]
    added = scim.patch(
        f"Groups/{group_id}", [{"op": "Add", "path": "members", "value": [{"$ref": None, "value": user_id}]}]
    )
    assert added.status_code in (200, 204), added.content
    assert Membership.objects.filter(group_id=group_id, user=person).exists()
    shown = scim.get(f"Groups/{group_id}", excludedAttributes="members").json()
    assert "members" not in shown and shown["displayName"] == "Sales"
    with_member = scim.get("Groups", filter=f'id eq "{group_id}" and members[value eq "{user_id}"]')
    assert with_member.json()["totalResults"] == 1

    removed = scim.patch(
        f"Groups/{group_id}", [{"op": "Remove", "path": "members", "value": [{"$ref": None, "value": user_id}]}]
    )
    assert removed.status_code in (200, 204), removed.content
    assert not Membership.objects.filter(group_id=group_id).exists()

    renamed = scim.patch(f"Groups/{group_id}", [{"op": "Replace", "path": "displayName", "value": "Sales EMEA"}])
    assert renamed.status_code in (200, 204) and Group.objects.get(pk=group_id).display_name == "Sales EMEA"

    assert scim.delete(f"Groups/{group_id}").status_code == 204
    assert scim.delete(f"Users/{user_id}").status_code == 204
    assert not User.objects.filter(subject=user_id).exists()
    assert scim.get(f"Users/{user_id}").status_code == 404
    kinds = list(SecurityEvent.objects.filter(provisioner="Entra ID").order_by("at").values_list("kind", flat=True))
    assert kinds[0] == Event.SCIM_CREATED and Event.SCIM_DEACTIVATED in kinds and kinds[-1] == Event.SCIM_DELETED


def test_okta_provisioning_cycle():
    client, token = make_client("Okta")
    scim = Scim(token)

    lookup = scim.get("Users", filter='userName eq "ada@example.org"', startIndex="1", count="100")
    assert lookup.json()["totalResults"] == 0
    created = scim.post(
        "Users",
        {
            "schemas": [USER_SCHEMA],
            "userName": "ada@example.org",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [{"primary": True, "value": "ada@example.org", "type": "work"}],
            "displayName": "Ada Lovelace",
            "locale": "en-US",
            "externalId": "00ujl29u0le5T6Aj10h7",
            "groups": [],
            "password": "1mz050nq",
            "active": True,
        },
    )
    assert created.status_code == 201, created.content
    user_id = created.json()["id"]
    person = User.objects.get(subject=user_id)
    assert not person.has_usable_password()  # Okta's password is dropped, never set
    assert "password" not in created.json() and "password" not in str(person.scim.attributes)

    profile = scim.get(f"Users/{user_id}").json()
    profile["name"]["familyName"] = "King"
    profile["displayName"] = "Ada King"
    replaced = scim.put(f"Users/{user_id}", profile)
    assert replaced.status_code == 200, replaced.content
    assert replaced.json()["name"]["familyName"] == "King"
    person.refresh_from_db()
    assert person.display_name == "Ada King"

    # Okta deactivates with a replace that has no path.
    assert scim.patch(f"Users/{user_id}", [{"op": "replace", "value": {"active": False}}]).status_code in (200, 204)
    person.refresh_from_db()
    assert not person.is_active
    assert scim.patch(f"Users/{user_id}", [{"op": "replace", "value": {"active": True}}]).status_code in (200, 204)
    person.refresh_from_db()
    assert person.is_active

    group = scim.post("Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Test SCIMv2", "members": []})
    assert group.status_code == 201, group.content
    group_id = group.json()["id"]
    renamed = scim.patch(
        f"Groups/{group_id}", [{"op": "replace", "value": {"id": group_id, "displayName": "Test SCIMv2 renamed"}}]
    )
    assert renamed.status_code in (200, 204), renamed.content
    added = scim.patch(
        f"Groups/{group_id}", [{"op": "add", "path": "members", "value": [{"value": user_id, "display": "ada"}]}]
    )
    assert added.status_code in (200, 204), added.content
    assert Membership.objects.filter(group_id=group_id, user=person).exists()
    removed = scim.patch(f"Groups/{group_id}", [{"op": "remove", "path": f'members[value eq "{user_id}"]'}])
    assert removed.status_code in (200, 204), removed.content
    assert not Membership.objects.filter(group_id=group_id).exists()
    assert Group.objects.get(pk=group_id).display_name == "Test SCIMv2 renamed"

    assert scim.delete(f"Groups/{group_id}").status_code == 204
    assert scim.delete(f"Users/{user_id}").status_code == 204
    assert not User.objects.filter(subject=user_id).exists()
