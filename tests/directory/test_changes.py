"""Changes take effect honestly: whatever takes a role or an assignment away from someone (a row
deleted, a group's membership or the group itself, the role, by cascade) revokes that app's refresh
tokens for them once the change commits, and an assignment lost to an app that requires it is told
to the app by back-channel logout (a real HTTP receiver; the logout token checked with joserfc).

Each attack holds a refresh token from a real code flow and tries it after the change."""

from __future__ import annotations

import pytest
from django.db import transaction

from directory.models import Assignment, Membership
from identity.celery import app as celery_app
from tests.directory.directory import app, assign, group, role, signed_in, tokens
from tests.oidc.relying_party import RelyingParty, register
from tests.oidc.test_backchannel import LogoutReceiver, logout_claims
from tests.oidc.test_credential_revocation import assert_invalid_grant

pytestmark = pytest.mark.django_db


def assert_refreshes(rp: RelyingParty, refresh_token: str) -> None:
    assert rp.refresh(refresh_token).status_code == 200


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run what a change queued for its commit (the test's own transaction never commits)."""

    def run(change) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            change()

    return run


@pytest.fixture
def receiver():
    """The app's back-channel logout endpoint, delivered to at once (the task runs eagerly)."""
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    server = LogoutReceiver()
    try:
        yield server
    finally:
        server.close()
        celery_app.conf.task_always_eager = eager


def test_removing_a_role_revokes_that_apps_refresh_token_and_nothing_else(user, make_user, committed):
    wiki, payroll = app("Wiki", "editor"), app("Payroll", "admin")
    colleague = make_user("bob@example.com")
    editor = assign(wiki, user, "editor")
    assign(wiki, colleague, "editor")
    assign(payroll, user, "admin")
    browser = signed_in(user.email)
    mine, payroll_tokens = tokens(wiki, browser), tokens(payroll, browser)
    theirs = tokens(wiki, signed_in(colleague.email))

    committed(editor.delete)

    assert_invalid_grant(wiki, mine["refresh_token"])
    assert wiki.userinfo(mine["access_token"]).status_code == 401
    assert_refreshes(payroll, payroll_tokens["refresh_token"])
    assert_refreshes(wiki, theirs["refresh_token"])


def test_leaving_a_group_revokes_what_its_role_gave(user, committed):
    wiki = app("Wiki", "editor")
    staff = group("Staff", user)
    assign(wiki, staff, "editor")
    body = tokens(wiki, signed_in(user.email))

    committed(Membership.objects.get(group=staff, user=user).delete)

    assert_invalid_grant(wiki, body["refresh_token"])


def test_deleting_the_group_revokes_every_members_tokens(user, make_user, committed):
    wiki = app("Wiki", "editor")
    colleague = make_user("bob@example.com")
    staff = group("Staff", user, colleague)
    assign(wiki, staff, "editor")
    mine, theirs = tokens(wiki, signed_in(user.email)), tokens(wiki, signed_in(colleague.email))

    committed(staff.delete)

    assert_invalid_grant(wiki, mine["refresh_token"])
    assert_invalid_grant(wiki, theirs["refresh_token"])


def test_deleting_the_role_revokes(user, committed):
    wiki = app("Wiki", "editor")
    assign(wiki, group("Staff", user), "editor")
    body = tokens(wiki, signed_in(user.email))

    committed(role(wiki, "editor").delete)

    assert_invalid_grant(wiki, body["refresh_token"])


def test_changing_an_assignment_to_a_lesser_role_revokes(user, committed):
    wiki = app("Wiki", "editor", "reader")
    assignment = assign(wiki, user, "editor")
    body = tokens(wiki, signed_in(user.email))

    def demote():
        assignment.role = role(wiki, "reader")
        assignment.save()

    committed(demote)

    assert_invalid_grant(wiki, body["refresh_token"])


def test_a_role_still_held_through_a_group_revokes_nothing(user, committed):
    wiki = app("Wiki", "editor")
    direct = assign(wiki, user, "editor")
    assign(wiki, group("Editors", user), "editor")
    body = tokens(wiki, signed_in(user.email))

    committed(direct.delete)

    assert_refreshes(wiki, body["refresh_token"])


def test_a_removal_rolled_back_revokes_nothing(user, committed):
    wiki = app("Wiki", "editor")
    editor = assign(wiki, user, "editor")
    kept = editor.pk
    body = tokens(wiki, signed_in(user.email))

    def removed_then_rolled_back():
        with pytest.raises(RuntimeError), transaction.atomic():
            editor.delete()
            raise RuntimeError("the request failed")

    committed(removed_then_rolled_back)

    assert Assignment.objects.filter(pk=kept).exists()
    assert_refreshes(wiki, body["refresh_token"])


def test_losing_the_assignment_signs_the_person_out_of_the_app(user, receiver, committed):
    client, secret = register(
        "Wiki",
        allowed_scopes="openid roles offline_access",
        skip_authorization=True,
        assignment_required=True,
        backchannel_logout_uri=receiver.url(),
    )
    wiki = RelyingParty(client, secret)
    membership = Membership.objects.get(group=(users := group("Wiki users", user)), user=user)
    Assignment.objects.create(app=client, group=users)
    body = tokens(wiki, signed_in(user.email), scope="openid roles offline_access")

    committed(membership.delete)

    assert_invalid_grant(wiki, body["refresh_token"])
    [token] = receiver.tokens()
    _header, claims = logout_claims(token, wiki)
    assert claims["sub"] == body["claims"]["sub"] and "sid" not in claims  # every session of theirs


def test_losing_the_assignment_after_a_role_still_signs_the_person_out(user, receiver, committed):
    """A role taken first revoked the app's tokens without a logout (the app was to fetch new ones,
    but it keeps its own session and did not). The assignment lost later must still be told, though
    the person has no live token left at the app."""
    client, secret = register(
        "Wiki",
        allowed_scopes="openid roles offline_access",
        skip_authorization=True,
        assignment_required=True,
        backchannel_logout_uri=receiver.url(),
    )
    wiki = RelyingParty(client, secret)
    editor = Assignment.objects.create(app=client, role=client.app_roles.create(value="editor"), user=user)
    admitted = Assignment.objects.create(app=client, user=user)
    body = tokens(wiki, signed_in(user.email), scope="openid roles offline_access")
    committed(editor.delete)
    assert receiver.received == []

    committed(admitted.delete)

    [token] = receiver.tokens()
    assert logout_claims(token, wiki)[1]["sub"] == body["claims"]["sub"]


def test_losing_a_role_is_no_logout(user, receiver, committed):
    client, secret = register(
        "Wiki",
        allowed_scopes="openid roles offline_access",
        skip_authorization=True,
        backchannel_logout_uri=receiver.url(),
    )
    wiki = RelyingParty(client, secret)
    editor = Assignment.objects.create(app=client, role=client.app_roles.create(value="editor"), user=user)
    body = tokens(wiki, signed_in(user.email), scope="openid roles offline_access")

    committed(editor.delete)

    assert_invalid_grant(wiki, body["refresh_token"])
    assert receiver.received == []


def test_changing_a_roles_value_revokes_what_the_old_value_gave(user, committed):
    """Apps check values: `admin` renamed to `admin-old` is `admin` taken away."""
    wiki = app("Wiki", "admin")
    assign(wiki, group("Admins", user), "admin")
    body = tokens(wiki, signed_in(user.email))

    def rename():
        admin = role(wiki, "admin")
        admin.value = "admin-old"
        admin.save()

    committed(rename)

    assert_invalid_grant(wiki, body["refresh_token"])
