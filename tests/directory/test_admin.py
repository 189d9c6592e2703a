"""Groups and assignments in the admin: least privilege and the audit trail.

The attacker is a helpdesk admin (staff, a second factor, every directory permission and view on
people) who tries to give an administrator a role they control, or to lock one out: by putting a
superuser into a group, assigning one, or deleting a group holding a staff member. Each attack goes
through the real admin pages (Django's test client, PostgreSQL, Redis)."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client as Browser

from accounts.models import SecurityEvent
from directory.models import Assignment, Group, Membership
from tests.accounts.test_admin_groups_and_apps import client_form
from tests.directory.directory import app, assign, group, helpdesk_admin, signed_in, tokens
from tests.oidc.test_credential_revocation import assert_invalid_grant
from tests.users import sign_in_admin

pytestmark = pytest.mark.django_db

Event = SecurityEvent.Kind
GROUPS = "/admin/directory/group/"
ASSIGNMENTS = "/admin/directory/assignment/"


@pytest.fixture
def helpdesk(make_user) -> Browser:
    return helpdesk_admin(make_user)


@pytest.fixture
def root(make_admin) -> Browser:
    admin = make_admin()
    browser = sign_in_admin(admin)
    browser.account = admin  # type: ignore[attr-defined]
    return browser


def group_form(name: str, members=(), kept=(), removed=()) -> dict:
    """The group page's form: name, member rows (kept, removed, then new) and no assignment rows."""
    existing = [*kept, *removed]
    data: dict[str, object] = {
        "display_name": name,
        "description": "",
        "external_id": "",
        "memberships-TOTAL_FORMS": str(len(existing) + len(members)),
        "memberships-INITIAL_FORMS": str(len(existing)),
        "assignments-TOTAL_FORMS": "0",
        "assignments-INITIAL_FORMS": "0",
    }
    for n, membership in enumerate(existing):
        data.update({f"memberships-{n}-id": membership.pk, f"memberships-{n}-group": membership.group_id})
        data[f"memberships-{n}-user"] = membership.user_id
        if membership in removed:
            data[f"memberships-{n}-DELETE"] = "on"
    for n, person in enumerate(members, start=len(existing)):
        data[f"memberships-{n}-user"] = person.pk
    return data


def test_helpdesk_cannot_add_a_superuser_to_a_group(helpdesk, make_user):
    boss = make_user("boss@example.com", is_staff=True, is_superuser=True)
    staff = group("Staff")

    new = helpdesk.post(f"{GROUPS}add/", group_form("Mine", members=[boss]))
    existing = helpdesk.post(f"{GROUPS}{staff.pk}/change/", group_form("Staff", members=[boss]))

    assert new.status_code == existing.status_code == 200  # the form again, saying why
    assert "Only a superuser can add a staff or superuser account" in existing.content.decode()
    assert not Membership.objects.filter(user=boss).exists()
    assert not Group.objects.filter(display_name="Mine").exists()


def test_helpdesk_cannot_remove_a_staff_member_by_changing_their_group(helpdesk, make_user, user):
    operator = make_user("ops@example.com", is_staff=True)
    staff = group("Staff", operator, user)
    rows = list(Membership.objects.filter(group=staff).order_by("user__email"))
    [theirs] = [row for row in rows if row.user_id == operator.pk]

    response = helpdesk.post(
        f"{GROUPS}{staff.pk}/change/", group_form("Staff", kept=[r for r in rows if r != theirs], removed=[theirs])
    )

    assert response.status_code == 403
    assert Membership.objects.filter(pk=theirs.pk).exists()


def test_helpdesk_cannot_assign_a_superuser_or_a_group_holding_one(helpdesk, make_user):
    boss = make_user("boss@example.com", is_superuser=True)
    wiki = app("Wiki", "admin")
    bosses = group("Bosses", boss)
    admin_role = wiki.client.app_roles.get()

    direct = helpdesk.post(f"{ASSIGNMENTS}add/", {"app": wiki.client.pk, "role": admin_role.pk, "user": boss.pk})
    through = helpdesk.post(f"{ASSIGNMENTS}add/", {"app": wiki.client.pk, "role": admin_role.pk, "group": bosses.pk})

    assert direct.status_code == through.status_code == 200
    assert "Only a superuser can assign" in direct.content.decode()
    assert not Assignment.objects.exists()


def test_helpdesk_cannot_delete_a_group_holding_a_staff_member(helpdesk, make_user):
    operators = group("Operators", make_user("ops@example.com", is_staff=True))
    plain = group("Plain")

    one = helpdesk.post(f"{GROUPS}{operators.pk}/delete/", {"post": "yes"})
    bulk = helpdesk.post(
        GROUPS, {"action": "delete_selected", "_selected_action": [operators.pk, plain.pk], "post": "yes"}
    )

    assert one.status_code == 403
    assert bulk.status_code == 302
    assert Group.objects.filter(pk=operators.pk).exists()
    assert not Group.objects.filter(pk=plain.pk).exists()


def test_a_superuser_may_put_a_staff_member_in_a_group(root, make_user):
    operator = make_user("ops@example.com", is_staff=True)
    staff = group("Staff")

    assert root.post(f"{GROUPS}{staff.pk}/change/", group_form("Staff", members=[operator])).status_code == 302
    assert Membership.objects.filter(group=staff, user=operator).exists()


def test_joining_and_leaving_are_in_the_persons_trail_with_the_admin(
    helpdesk, user, django_capture_on_commit_callbacks
):
    wiki = app("Wiki", "editor")
    staff = group("Staff")
    assign(wiki, staff, "editor")

    assert helpdesk.post(f"{GROUPS}{staff.pk}/change/", group_form("Staff", members=[user])).status_code == 302
    body = tokens(wiki, signed_in(user.email))
    assert body["claims"]["roles"] == ["editor"]
    with django_capture_on_commit_callbacks(execute=True):
        removed = helpdesk.post(
            f"{GROUPS}{staff.pk}/change/", group_form("Staff", removed=[Membership.objects.get(user=user)])
        )

    assert removed.status_code == 302
    trail = SecurityEvent.objects.filter(user=user, kind__in=[Event.GROUP_JOINED, Event.GROUP_LEFT]).order_by("at")
    assert [(event.kind, event.reason, event.actor) for event in trail] == [
        (Event.GROUP_JOINED, "Staff", helpdesk.account),
        (Event.GROUP_LEFT, "Staff", helpdesk.account),
    ]
    assert LogEntry.objects.filter(object_id=str(staff.pk), user=helpdesk.account).count() == 2
    assert_invalid_grant(wiki, body["refresh_token"])


def test_a_role_given_and_removed_is_audited_on_each_person(helpdesk, user, make_user):
    wiki = app("Wiki", "editor")
    colleague = make_user("bob@example.com")
    team = group("Team", user, colleague)
    editor = wiki.client.app_roles.get()

    assert (
        helpdesk.post(f"{ASSIGNMENTS}add/", {"app": wiki.client.pk, "role": editor.pk, "group": team.pk}).status_code
        == 302
    )
    assignment = Assignment.objects.get()
    assert helpdesk.post(f"{ASSIGNMENTS}{assignment.pk}/delete/", {"post": "yes"}).status_code == 302

    for person in (user, colleague):
        kinds = list(SecurityEvent.objects.filter(user=person, actor=helpdesk.account).values_list("kind", "reason"))
        assert sorted(kinds) == sorted([(Event.ROLE_GIVEN, "editor"), (Event.ROLE_REMOVED, "editor")])


def test_the_app_page_has_its_roles_and_assignments_and_shows_a_groups_id(root):
    wiki = app("Wiki", "editor")
    staff = group("Staff")

    page = root.get(f"/admin/oidc/client/{wiki.client.pk}/change/").content.decode()
    listing = root.get(GROUPS).content.decode()

    assert 'name="app_roles-TOTAL_FORMS"' in page and 'name="assignments-TOTAL_FORMS"' in page
    assert 'name="assignment_required"' in page and 'name="groups_claim"' in page
    assert str(staff.pk) in listing
    assert str(staff.pk) in root.get(f"{GROUPS}{staff.pk}/change/").content.decode()


def test_members_are_found_by_email(helpdesk, user):
    found = helpdesk.get(
        "/admin/autocomplete/",
        {"app_label": "directory", "model_name": "membership", "field_name": "user", "term": "ada@"},
    )
    assert found.status_code == 200
    assert [result["text"] for result in found.json()["results"]] == [str(user)]


def test_roles_and_assignments_made_on_the_apps_page_are_audited(root, user):
    """The relying app's page (superusers only) audits its inlines like the directory's own pages."""
    wiki = app("Wiki")
    form = client_form(wiki.client)
    form.update(
        {
            "app_roles-TOTAL_FORMS": "1",
            "app_roles-0-value": "editor",
            "app_roles-0-display_name": "Editor",
            "app_roles-0-description": "",
        }
    )
    assert root.post(f"/admin/oidc/client/{wiki.client.pk}/change/", form).status_code == 302
    editor = wiki.client.app_roles.get()
    form.update(
        {
            "app_roles-INITIAL_FORMS": "1",
            "app_roles-0-id": str(editor.pk),
            "app_roles-0-app": str(wiki.client.pk),
            "assignments-TOTAL_FORMS": "1",
            "assignments-0-role": str(editor.pk),
            "assignments-0-user": str(user.pk),
        }
    )

    assert root.post(f"/admin/oidc/client/{wiki.client.pk}/change/", form).status_code == 302
    event = SecurityEvent.objects.get(user=user, kind=Event.ROLE_GIVEN)
    assert (event.reason, event.actor) == ("editor", root.account)
    assert tokens(wiki, signed_in(user.email))["claims"]["roles"] == ["editor"]
