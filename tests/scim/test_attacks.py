"""What a holder of a SCIM token (or of a wrong one) tries, and that it fails: acting outside its
client's limits, on staff accounts, with a revoked or guessed token, or granting what SCIM never grants."""

from __future__ import annotations

import pytest

from accounts.flows.lifecycle import deactivate_user, reactivate_user
from accounts.models import SecurityEvent, User
from accounts.sessions import user_sessions
from directory.models import Group, Membership
from oidc.models import TokenFamily
from tests.oidc.relying_party import RelyingParty, register
from tests.scim.helpers import Scim, make_client, new_group, new_user
from tests.users import PASSWORD

pytestmark = pytest.mark.django_db
Event = SecurityEvent.Kind


@pytest.fixture
def two_clients():
    """Two provisioners limited to what each provisioned, each with one person of its own."""
    _a, token_a = make_client("HR")
    _b, token_b = make_client("Okta")
    hr, okta = Scim(token_a), Scim(token_b)
    theirs = okta.post("Users", new_user("okta-person@example.com")).json()["id"]
    return hr, okta, theirs


@pytest.fixture
def staff(make_user):
    return make_user("admin@example.com", is_staff=True), make_user("root@example.com", is_superuser=True)


def test_a_client_cannot_read_change_or_delete_another_clients_person(two_clients):
    hr, okta, theirs = two_clients
    assert hr.get(f"Users/{theirs}").status_code == 404
    assert hr.get("Users", filter='userName eq "okta-person@example.com"').json()["totalResults"] == 0
    assert hr.get("Users").json()["totalResults"] == 0
    assert hr.patch(f"Users/{theirs}", [{"op": "replace", "value": {"active": False}}]).status_code == 404
    assert hr.put(f"Users/{theirs}", new_user("taken@example.com")).status_code == 404
    assert hr.delete(f"Users/{theirs}").status_code == 404
    person = User.objects.get(subject=theirs)
    assert person.is_active and person.email == "okta-person@example.com"
    assert not SecurityEvent.objects.filter(provisioner="HR").exists()


@pytest.mark.parametrize("any_account", [False, True])
def test_no_client_sees_or_touches_a_staff_or_superuser_account(staff, make_user, any_account):
    _client, token = make_client("Entra", any_account=any_account)
    scim = Scim(token)
    ordinary = make_user("someone@example.com")
    listed = {resource["userName"] for resource in scim.get("Users").json()["Resources"]}
    assert listed == ({ordinary.email} if any_account else set())
    for account in staff:
        subject = str(account.subject)
        assert scim.get(f"Users/{subject}").status_code == 404
        assert scim.get("Users", filter=f'userName eq "{account.email}"').json()["totalResults"] == 0
        assert scim.get("Users", filter=f'id eq "{subject}"').json()["totalResults"] == 0
        assert scim.patch(f"Users/{subject}", [{"op": "replace", "value": {"active": False}}]).status_code == 404
        assert scim.delete(f"Users/{subject}").status_code == 404
        account.refresh_from_db()
        assert account.is_active


def test_a_client_can_put_no_staff_account_in_a_group_nor_see_or_drop_one_there(staff):
    admin, _root = staff
    _client, token = make_client("Entra", any_account=True)
    scim = Scim(token)
    own = scim.post("Users", new_user()).json()["id"]
    refused = scim.post("Groups", new_group("Admins", members=[str(admin.subject)]))
    assert refused.status_code == 400 and not Group.objects.filter(display_name="Admins").exists()

    group_id = scim.post("Groups", new_group("Engineering", members=[own])).json()["id"]
    Membership.objects.create(group_id=group_id, user=admin)  # an admin put a staff member in it
    shown = scim.get(f"Groups/{group_id}").json()
    assert [member["value"] for member in shown["members"]] == [own]
    assert scim.get("Groups", filter=f'members[value eq "{admin.subject}"]').json()["totalResults"] == 0
    assert scim.put(f"Groups/{group_id}", new_group("Engineering", members=[])).status_code == 200
    assert list(Membership.objects.filter(group_id=group_id).values_list("user", flat=True)) == [admin.pk]
    assert scim.delete(f"Groups/{group_id}").status_code == 403  # it would end the staff member's membership
    assert Membership.objects.filter(group_id=group_id, user=admin).exists()


def test_a_client_limited_to_its_own_sees_no_other_group(two_clients):
    hr, okta, theirs = two_clients
    group_id = okta.post("Groups", new_group(members=[theirs])).json()["id"]
    assert hr.get(f"Groups/{group_id}").status_code == 404
    assert hr.patch(f"Groups/{group_id}", [{"op": "remove", "path": "members"}]).status_code == 404
    assert hr.delete(f"Groups/{group_id}").status_code == 404
    mine = hr.post("Groups", new_group("Mine")).json()["id"]
    assert (
        hr.patch(f"Groups/{mine}", [{"op": "add", "path": "members", "value": [{"value": theirs}]}]).status_code == 400
    )
    assert Membership.objects.filter(group_id=group_id).count() == 1 and not Membership.objects.filter(group_id=mine)


def test_a_read_only_client_cannot_write(make_user):
    _client, token = make_client("Auditor", may_write=False, any_account=True)
    scim = Scim(token)
    person = make_user("someone@example.com")
    assert scim.get(f"Users/{person.subject}").status_code == 200
    for response in (
        scim.post("Users", new_user()),
        scim.patch(f"Users/{person.subject}", [{"op": "replace", "value": {"active": False}}]),
        scim.put(f"Users/{person.subject}", new_user("someone@example.com", active=False)),
        scim.delete(f"Users/{person.subject}"),
        scim.post("Groups", new_group()),
    ):
        assert response.status_code == 403 and response.json()["status"] == "403"
    person.refresh_from_db()
    assert person.is_active and User.objects.count() == 1 and not Group.objects.exists()


def test_a_client_for_users_cannot_touch_groups():
    _client, token = make_client("Users only", may_groups=False)
    scim = Scim(token)
    assert scim.get("Groups").status_code == 403
    assert scim.post("Groups", new_group()).status_code == 403
    assert not Group.objects.exists()


def test_a_revoked_token_is_refused():
    client, token = make_client()
    scim = Scim(token)
    assert scim.get("Users").status_code == 200
    client.revoked_at = client.created_at
    client.save()
    refused = scim.get("Users")
    assert refused.status_code == 401 and refused.json()["status"] == "401"
    assert refused["WWW-Authenticate"].startswith("Bearer")
    assert scim.post("Users", new_user()).status_code == 401 and not User.objects.exists()


def test_a_wrong_token_is_refused_then_rate_limited_per_address(settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "scim-token-ip": "3/h"}
    _client, token = make_client()
    guesser = Scim("scim_" + "A" * 43)
    for _ in range(3):
        assert guesser.get("Users").status_code == 401
    limited = guesser.get("Users")
    assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
    assert limited["Content-Type"] == "application/scim+json" and limited.json()["status"] == "429"
    # A right token from the same address still works (test_review_attacks: shared cloud addresses).
    assert Scim(token).get("Users").status_code == 200
    assert SecurityEvent.objects.filter(kind=Event.THROTTLED, reason="scim-token-ip").exists()


def test_each_client_has_its_own_rate_limit(settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "scim-client": "2/h"}
    _a, token_a = make_client("A")
    _b, token_b = make_client("B")
    busy = Scim(token_a)
    assert [busy.get("Users").status_code for _ in range(3)] == [200, 200, 429]
    assert Scim(token_b).get("Users").status_code == 200


@pytest.mark.parametrize(
    "operations",
    [
        [{"op": "replace", "path": "is_staff", "value": True}],
        [{"op": "replace", "value": {"is_staff": True, "is_superuser": True}}],
        [{"op": "add", "path": "urn:ietf:params:scim:schemas:core:2.0:User:isStaff", "value": True}],
    ],
)
def test_no_patch_makes_anyone_staff(operations):
    _client, token = make_client()
    scim = Scim(token)
    created = scim.post("Users", new_user()).json()["id"]
    refused = scim.patch(f"Users/{created}", operations)
    assert refused.status_code == 400
    person = User.objects.get(subject=created)
    assert not person.is_staff and not person.is_superuser


def test_no_creation_makes_anyone_staff_or_sets_a_password():
    _client, token = make_client()
    scim = Scim(token)
    assert scim.post("Users", new_user(is_staff=True)).status_code == 400
    assert scim.post("Users", new_user(isStaff=True, is_superuser=True)).status_code == 400
    assert not User.objects.exists()
    created = scim.post("Users", new_user(password=PASSWORD)).json()["id"]
    person = User.objects.get(subject=created)
    assert not person.has_usable_password() and not person.check_password(PASSWORD)
    scim.patch(f"Users/{created}", [{"op": "replace", "path": "password", "value": PASSWORD}])
    person.refresh_from_db()
    assert not person.has_usable_password()
    assert "password" not in str(person.scim.attributes)


def test_deleting_keeps_the_audit_trail():
    _client, token = make_client("Entra")
    scim = Scim(token)
    created = scim.post("Users", new_user()).json()["id"]
    scim.patch(f"Users/{created}", [{"op": "replace", "value": {"displayName": "Grace"}}])
    assert scim.delete(f"Users/{created}").status_code == 204
    assert not User.objects.filter(subject=created).exists()
    trail = SecurityEvent.objects.filter(former_account=f"grace@example.com ({created})").order_by("at")
    assert [event.kind for event in trail] == [Event.SCIM_CREATED, Event.SCIM_CHANGED, Event.SCIM_DELETED]
    assert all(event.provisioner == "Entra" and event.user is None for event in trail)


def test_deactivation_ends_a_live_session_and_revokes_a_refresh_token(user, signed_in_client):
    app, secret = register()
    rp = RelyingParty(app, secret)
    tokens = rp.sign_in_and_redeem(signed_in_client)
    assert user_sessions(user.pk)
    _client, token = make_client("Entra", any_account=True)

    response = Scim(token).patch(f"Users/{user.subject}", [{"op": "Replace", "path": "active", "value": False}])

    assert response.status_code == 204
    assert not user_sessions(user.pk)
    assert signed_in_client.get("/accounts/").status_code == 302  # signed out: sent to sign in
    refused = rp.refresh(tokens["refresh_token"])
    assert refused.status_code == 400 and "access_token" not in refused.json()
    assert not TokenFamily.objects.filter(user=user, revoked_at__isnull=True).exists()
    assert SecurityEvent.objects.filter(user=user, kind=Event.SCIM_DEACTIVATED, provisioner="Entra").exists()


def test_deletion_ends_a_live_session_first(user, signed_in_client):
    _client, token = make_client("Entra", any_account=True)
    assert user_sessions(user.pk)
    assert Scim(token).delete(f"Users/{user.subject}").status_code == 204
    assert not user_sessions(user.pk) and not User.objects.filter(pk=user.pk).exists()
    assert signed_in_client.get("/accounts/").status_code == 302


def test_a_sync_does_not_undo_an_admins_deactivation(make_user):
    """Okta's profile push (PUT) always sends `active: true`: an account an admin deactivated (for
    cause) stays deactivated until an admin reactivates it; the answer says so. A deactivation the
    provisioner made itself it may undo."""
    _client, token = make_client("Okta")
    okta = Scim(token)
    body = new_user("fired@example.com")
    subject = okta.post("Users", body).json()["id"]
    person = User.objects.get(subject=subject)
    deactivate_user(person, actor=make_user("root@example.com", is_superuser=True))

    put = okta.put(f"Users/{subject}", {**body, "active": True})
    assert put.status_code == 200 and put.json()["active"] is False
    assert okta.patch(f"Users/{subject}", [{"op": "replace", "value": {"active": True}}]).status_code in (200, 204)
    assert okta.get(f"Users/{subject}").json()["active"] is False
    person.refresh_from_db()
    assert not person.is_active
    assert not SecurityEvent.objects.filter(user=person, kind=Event.SCIM_REACTIVATED).exists()

    reactivate_user(person)  # an admin's
    okta.patch(f"Users/{subject}", [{"op": "replace", "value": {"active": False}}])
    okta.patch(f"Users/{subject}", [{"op": "replace", "value": {"active": True}}])
    assert okta.get(f"Users/{subject}").json()["active"] is True  # its own deactivation it may undo
