"""Recovery codes: made with the first authenticator, stored hashed, each good for one sign-in."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.utils import timezone

from accounts.app_settings import app_settings as accounts_settings
from accounts.models import OutboxMail, SecurityEvent
from mfa import recovery
from mfa.models import RecoveryCode
from tests.concurrency import run_in_parallel
from tests.users import PASSWORD, add_totp, totp_code

from .pages import (
    CODES_PAGE,
    MFA_PAGE,
    codes_on_page,
    device_of,
    enrol_through_pages,
    is_signed_in,
    page_after,
    sign_in_with_mfa,
    start_pending,
    submit_code,
)

pytestmark = pytest.mark.django_db

Event = SecurityEvent.Kind
REGENERATE = "/accounts/security/recovery-codes/regenerate/"


@pytest.fixture
def codes(ada) -> list[str]:
    """Ada's ten recovery codes, as shown to her (xxxx-xxxx-xxxx)."""
    return recovery.generate(ada)


def use_code(c: Client, code: str):
    return submit_code(c, code, recovery=True)


# --- made and stored ------------------------------------------------------------------------------


def test_ten_codes_are_made_with_the_first_authenticator_and_shown_once(signed_in_client, user):
    response, _ = enrol_through_pages(signed_in_client)
    assert response.status_code == 302 and response["Location"] == CODES_PAGE
    page = signed_in_client.get(CODES_PAGE)
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    shown = codes_on_page(page.content.decode())
    assert len(shown) == len(set(shown)) == 10
    assert all(re.fullmatch(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}", code) for code in shown)
    assert RecoveryCode.objects.filter(user=user, used_at__isnull=True).count() == 10
    assert SecurityEvent.objects.filter(kind=Event.RECOVERY_CODES_GENERATED, user=user).count() == 1

    again = signed_in_client.get(CODES_PAGE)
    assert again.status_code == 302 and again["Location"] == "/accounts/security/"


def test_codes_are_stored_only_as_hashes(codes, ada):
    rows = list(RecoveryCode.objects.filter(user=ada))
    assert len(rows) == 10
    dump = repr(list(RecoveryCode.objects.values_list()))
    for code in codes:
        plain = code.replace("-", "")
        assert code not in dump and plain not in dump and plain.upper() not in dump
    assert all(re.fullmatch(r"[0-9a-f]{64}", row.code_hash) for row in rows)
    assert {row.code_hash for row in rows}.isdisjoint({c.replace("-", "") for c in codes})


def test_codes_are_random_per_generation(ada):
    assert set(recovery.generate(ada)).isdisjoint(recovery.generate(ada))


# --- used at sign-in ------------------------------------------------------------------------------


def test_a_code_signs_in_once(codes, ada, browser):
    c = start_pending(browser(), ada)
    response = use_code(c, codes[0])
    assert response.status_code == 302 and response["Location"] == "/accounts/"
    assert is_signed_in(c)
    assert [m["method"] for m in c.session["accounts.auth_methods"]] == ["pwd", "recovery"]
    assert SecurityEvent.objects.get(kind=Event.SIGNIN_SUCCEEDED).method == "pwd+recovery"
    assert SecurityEvent.objects.get(kind=Event.MFA_VERIFIED).method == "recovery"

    again = start_pending(browser(), ada)
    refused = use_code(again, codes[0])
    assert refused.status_code == 400
    assert "That code is not right" in refused.content.decode()
    assert not is_signed_in(again)
    assert RecoveryCode.objects.filter(user=ada, used_at__isnull=False).count() == 1


@pytest.mark.parametrize(
    "shape",
    [
        lambda code: code.upper(),
        lambda code: code.replace("-", ""),
        lambda code: code.replace("-", " "),
        lambda code: f"  {code.upper().replace('-', '')}  ",
    ],
    ids=["upper", "no-dashes", "spaces", "padded-upper"],
)
def test_codes_ignore_case_dashes_and_spaces(codes, ada, browser, shape):
    c = start_pending(browser(), ada)
    assert use_code(c, shape(codes[3]))["Location"] == "/accounts/"


@pytest.mark.parametrize("bad", ["", "abcd-efgh", "zzzz-zzzz-zzzz", "0000-0000-0000"])
def test_wrong_or_malformed_codes_are_refused(codes, ada, browser, bad):
    c = start_pending(browser(), ada)
    assert use_code(c, bad).status_code == 400
    assert not is_signed_in(c)
    assert recovery.use(ada, bad) is False


def test_a_code_of_another_user_does_not_work(codes, ada, make_user, browser):
    bob = make_user("bob@example.com")
    add_totp(bob)
    bobs = recovery.generate(bob)
    c = start_pending(browser(), ada)
    assert use_code(c, bobs[0]).status_code == 400
    assert not is_signed_in(c)
    assert RecoveryCode.objects.filter(user=bob, used_at__isnull=True).count() == 10


def test_a_totp_code_is_not_a_recovery_code_and_vice_versa(codes, ada, browser):
    c = start_pending(browser(), ada)
    assert use_code(c, totp_code(device_of(ada))).status_code == 400
    assert submit_code(c, codes[0]).status_code == 400  # on the TOTP form: not six digits
    assert not is_signed_in(c)


def test_recovery_guesses_count_against_the_same_limit(codes, ada, browser):
    c = start_pending(browser(), ada)
    for n in range(5):
        assert use_code(c, f"aaaa-aaaa-aaa{n + 2}").status_code == 400
    throttled = use_code(c, codes[0])
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) > 0
    assert not is_signed_in(c)
    assert not RecoveryCode.objects.filter(used_at__isnull=False).exists(), "the right code was not spent"


@pytest.mark.parametrize(("left_after", "warned"), [(3, False), (2, True), (0, True)])
def test_using_one_of_the_last_codes_warns(codes, ada, browser, left_after, warned):
    spent_before = codes[: 9 - left_after]
    RecoveryCode.objects.filter(code_hash__in=[recovery._hash(code) for code in spent_before]).update(
        used_at=timezone.now()
    )
    c = start_pending(browser(), ada)
    html = page_after(c, use_code(c, codes[9 - left_after]))
    expected = f"You have {left_after} recovery code{'' if left_after == 1 else 's'} left."
    assert (expected in html) is warned, html
    assert ("Generate a new set on your security page." in html) is warned


def test_security_page_shows_how_many_codes_remain(codes, ada, browser):
    c = start_pending(browser(), ada)
    use_code(c, codes[0])
    html = c.get("/accounts/security/").content.decode()
    assert "9 recovery codes left." in html


@pytest.mark.django_db(transaction=True)
def test_ten_parallel_uses_of_one_code_succeed_exactly_once(ada, generous_limits):
    [code, *_] = recovery.generate(ada)
    browsers = [start_pending(Client(raise_request_exception=False), ada) for _ in range(10)]
    results = run_in_parallel([lambda c=c: use_code(c, code) for c in browsers])
    assert sorted(getattr(r, "status_code", r) for r in results) == [302] + [400] * 9, results
    assert sum(is_signed_in(c) for c in browsers) == 1


# --- regenerating ---------------------------------------------------------------------------------


def test_regenerating_voids_the_old_set_and_mails_the_owner(codes, ada, browser, deliver_outbox):
    c = sign_in_with_mfa(browser(), ada)
    deliver_outbox().clear()
    response = c.post(REGENERATE)
    assert response.status_code == 302 and response["Location"] == CODES_PAGE
    fresh = codes_on_page(c.get(CODES_PAGE).content.decode())
    assert len(fresh) == 10 and set(fresh).isdisjoint(codes)
    assert c.get(CODES_PAGE)["Location"] == "/accounts/security/", "shown once"
    assert RecoveryCode.objects.filter(user=ada).count() == 10

    old = start_pending(browser(), ada)
    assert use_code(old, codes[1]).status_code == 400
    new = start_pending(browser(), ada)
    assert use_code(new, fresh[1])["Location"] == "/accounts/"

    [mail] = [m for m in deliver_outbox() if m.subject == "Identity: Two-step verification changed"]
    assert mail.to == [ada.email]
    assert "New recovery codes were generated" in mail.body
    assert SecurityEvent.objects.filter(kind=Event.RECOVERY_CODES_GENERATED, user=ada).count() == 1
    assert OutboxMail.objects.filter(kind=OutboxMail.Kind.MFA_CHANGED, user=ada).count() == 1


def test_regenerating_needs_recent_authentication(codes, ada, browser, clock, settings):
    c = sign_in_with_mfa(browser(), ada)
    before = set(RecoveryCode.objects.values_list("code_hash", flat=True))
    clock.advance(accounts_settings.REAUTHENTICATION_TIMEOUT + 1)
    response = c.post(REGENERATE)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/reauthenticate/?next=%2Faccounts%2Fsecurity%2F"
    assert set(RecoveryCode.objects.values_list("code_hash", flat=True)) == before
    assert c.get(CODES_PAGE).status_code == 302

    # Her account has an authenticator app, so the password alone does not confirm it's her.
    by_password = c.post("/accounts/reauthenticate/", {"password": PASSWORD, "next": "/accounts/security/"})
    assert by_password["Location"] == MFA_PAGE
    assert c.post(REGENERATE)["Location"] == "/accounts/reauthenticate/?next=%2Faccounts%2Fsecurity%2F"
    assert set(RecoveryCode.objects.values_list("code_hash", flat=True)) == before
    assert submit_code(c, totp_code(device_of(ada)))["Location"] == "/accounts/security/"
    assert c.post(REGENERATE)["Location"] == CODES_PAGE
    assert set(RecoveryCode.objects.values_list("code_hash", flat=True)).isdisjoint(before)


def test_regenerating_needs_sign_in(codes, ada, client):
    response = client.post(REGENERATE)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert RecoveryCode.objects.filter(user=ada).count() == 10
