"""The SCIM API's behaviour a provisioner relies on: filters, paging, sorting, ETags, uniqueness,
discovery, and no session or cookie ever."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import realms
from accounts.models import OutboxMail, SecurityEvent, User
from federation.models import Provider
from tests.scim.helpers import Scim, make_client, new_group, new_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def scim():
    _client, token = make_client()
    return Scim(token)


@pytest.fixture
def three(scim):
    ids = {}
    for name, external in (("carol", "e3"), ("alice", "e1"), ("bob", "e2")):
        body = new_user(f"{name}@example.com", externalId=external, displayName=name.title())
        body["emails"] = [{"value": f"{name}@example.com", "primary": True}, {"value": f"{name}@home.example"}]
        ids[name] = scim.post("Users", body).json()["id"]
    return ids


def names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [resource["userName"].split("@")[0] for resource in response.json()["Resources"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('userName eq "ALICE@example.com"', ["alice"]),
        ('emails.value eq "bob@example.com"', ["bob"]),
        ('emails[value eq "carol@home.example"]', ["carol"]),
        ('externalId eq "e2"', ["bob"]),
        ('externalId eq "E2"', []),  # externalId is case-exact
        ('userName eq "alice@example.com" or externalId eq "e3"', ["carol", "alice"]),
        ('userName eq "alice@example.com" and externalId eq "e3"', []),
        ('(externalId eq "e1" or externalId eq "e2") and displayName eq "bob"', ["bob"]),
        ('id eq "not-a-uuid"', []),
    ],
)
def test_filters(scim, three, query, expected):
    assert names(scim.get("Users", filter=query)) == expected


def test_filter_by_id_and_last_modified(scim, three):
    assert names(scim.get("Users", filter=f'id eq "{three["bob"]}"')) == ["bob"]
    User.objects.filter(email="carol@example.com").update(updated_at=timezone.now() - timedelta(days=2))
    since = (timezone.now() - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert names(scim.get("Users", filter=f'meta.lastModified gt "{since}"')) == ["alice", "bob"]
    assert names(scim.get("Users", filter=f'meta.lastModified le "{since}"')) == ["carol"]


@pytest.mark.parametrize(
    "query",
    [
        'nickName eq "x"',
        'userName co "ali"',
        'userName sw "a"',
        "title pr",
        'not (userName eq "a@b.c")',
        'meta.lastModified gt "yesterday"',
        "userName eq",
    ],
)
def test_other_filters_are_refused_as_invalid(scim, three, query):
    refused = scim.get("Users", filter=query)
    assert refused.status_code == 400 and refused.json()["scimType"] == "invalidFilter"


def test_group_filters(scim, three):
    scim.post("Groups", new_group("Sales", externalId="g1"))
    scim.post("Groups", new_group("Engineering", members=[three["bob"]]))
    found = scim.get("Groups", filter='displayName eq "sales"').json()
    assert [group["displayName"] for group in found["Resources"]] == ["Sales"]
    with_bob = scim.get("Groups", filter=f'members[value eq "{three["bob"]}"]').json()
    assert [group["displayName"] for group in with_bob["Resources"]] == ["Engineering"]
    assert scim.get("Groups", filter='externalId eq "g1"').json()["totalResults"] == 1


def test_paging_and_sorting(scim, three):
    page = scim.get("Users", sortBy="userName", startIndex="2", count="1").json()
    assert page["totalResults"] == 3 and page["startIndex"] == 2 and page["itemsPerPage"] == 1
    assert [r["userName"] for r in page["Resources"]] == ["bob@example.com"]
    assert names(scim.get("Users", sortBy="displayName", sortOrder="descending")) == ["carol", "bob", "alice"]
    assert scim.get("Users", count="0").json()["totalResults"] == 3
    refused = scim.get("Users", sortBy="nickName")
    assert refused.status_code == 400


def test_if_match_refuses_a_stale_version(scim):
    created = scim.post("Users", new_user())
    user_id, version = created.json()["id"], created["ETag"]
    assert scim.patch(
        f"Users/{user_id}", [{"op": "replace", "path": "displayName", "value": "G"}], headers={"If-Match": version}
    ).status_code in (200, 204)
    stale = scim.patch(
        f"Users/{user_id}", [{"op": "replace", "path": "displayName", "value": "H"}], headers={"If-Match": version}
    )
    assert stale.status_code == 412
    assert scim.delete(f"Users/{user_id}", headers={"If-Match": version}).status_code == 412
    assert User.objects.get(subject=user_id).display_name == "G"
    current = scim.get(f"Users/{user_id}")
    assert current["ETag"] != version and current.json()["meta"]["version"] == current["ETag"]
    # A change made elsewhere (the admin) gives a new version too.
    User.objects.filter(subject=user_id).update(display_name="Changed in the admin")
    assert scim.get(f"Users/{user_id}")["ETag"] != current["ETag"]


def test_a_taken_user_name_is_a_uniqueness_conflict(scim, make_user):
    make_user("ada@example.com")
    for address in ("ada@example.com", "ADA@Example.COM"):
        refused = scim.post("Users", new_user(address))
        assert refused.status_code == 409 and refused.json()["scimType"] == "uniqueness"
    other = scim.post("Users", new_user("grace@example.com")).json()["id"]
    clash = scim.patch(f"Users/{other}", [{"op": "replace", "path": "userName", "value": "Ada@example.com"}])
    assert clash.status_code == 409
    assert scim.post("Users", new_user("not an address")).status_code == 400


def test_a_new_user_name_is_a_credential_change(scim, mailoutbox):
    created = scim.post("Users", new_user("grace@example.com")).json()["id"]
    assert (
        scim.patch(f"Users/{created}", [{"op": "replace", "path": "userName", "value": "g@example.com"}]).status_code
        == 204
    )
    person = User.objects.get(subject=created)
    assert person.email == "g@example.com" and person.email_verified
    assert OutboxMail.objects.filter(kind=OutboxMail.Kind.EMAIL_CHANGED, to="grace@example.com").exists()
    assert SecurityEvent.objects.filter(user=person, kind="email_changed", provisioner="Entra").exists()


def test_discovery_and_no_session_or_cookie(scim):
    config = Scim("").get("ServiceProviderConfig")  # readable without a token (RFC 7644 4)
    assert config.status_code == 200 and config.json()["patch"]["supported"] is True
    assert config.json()["etag"]["supported"] is True and config.json()["bulk"]["supported"] is False
    assert Scim("").get("Schemas").status_code == 401
    schemas = {schema["id"] for schema in scim.get("Schemas").json()["Resources"]}
    assert "urn:ietf:params:scim:schemas:core:2.0:User" in schemas
    assert {rt["name"] for rt in scim.get("ResourceTypes").json()["Resources"]} == {"User", "Group"}
    created = scim.post("Users", new_user())
    assert created.status_code == 201 and not created.cookies
    assert created["Content-Type"] == "application/scim+json" and created["Location"].endswith(created.json()["id"])


def test_a_body_that_is_no_json_is_a_400(scim):
    refused = scim.browser.post(
        "/scim/v2/Users",
        "{not json",
        content_type="application/scim+json",
        headers={"Authorization": f"Bearer {scim.token}"},
    )
    assert refused.status_code == 400 and refused.json()["status"] == "400"
    assert scim.get("Users/not-a-uuid").status_code == 404
    assert scim.get("Nothing").status_code == 404


def test_a_person_of_a_domain_bound_to_a_sign_in_provider_can_be_provisioned(scim):
    Provider.objects.create(
        slug="acme", name="Acme", issuer="https://acme.example", client_id="identity", bound_domains="example.org"
    )
    assert realms.find("grace@example.org") is not None
    created = scim.post("Users", new_user("grace@example.org"))
    assert created.status_code == 201
    assert User.objects.get(subject=created.json()["id"]).email_verified


def test_the_same_address_in_another_case_is_no_credential_change(scim):
    created = scim.post("Users", new_user("grace@example.com")).json()["id"]
    scim.patch(f"Users/{created}", [{"op": "replace", "path": "userName", "value": "Grace@example.com"}])
    person = User.objects.get(subject=created)
    assert person.email == "Grace@example.com"
    assert not OutboxMail.objects.filter(kind=OutboxMail.Kind.EMAIL_CHANGED).exists()
    assert not SecurityEvent.objects.filter(user=person, kind="email_changed").exists()
