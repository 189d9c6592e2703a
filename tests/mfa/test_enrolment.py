"""Setting up an authenticator app: a QR code and key drawn inline, confirmed by a code from the app."""

from __future__ import annotations

import re

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.app_settings import app_settings as accounts_settings
from accounts.models import SecurityEvent
from mfa import totp
from mfa.models import RecoveryCode
from tests.users import PASSWORD

from .pages import (
    CODES_PAGE,
    ENROL_PAGE,
    MFA_PAGE,
    code_for_secret,
    enrol_through_pages,
    is_signed_in,
    password_step,
    reauthenticate,
    secret_on_page,
    submit_code,
)

pytestmark = pytest.mark.django_db

Event = SecurityEvent.Kind
MFA_MAIL = "Identity: Two-step verification changed"


def test_enrolment_needs_sign_in(client):
    response = client.get(ENROL_PAGE)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/accounts/security/totp/add/"
    assert client.post(ENROL_PAGE, {"name": "x", "code": "123456"}).status_code == 302
    assert not TOTPDevice.objects.exists()


def test_enrolment_needs_recent_authentication(signed_in_client, user, clock, settings):
    clock.advance(accounts_settings.REAUTHENTICATION_TIMEOUT + 1)
    response = signed_in_client.get(ENROL_PAGE)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/reauthenticate/?next=%2Faccounts%2Fsecurity%2Ftotp%2Fadd%2F"
    # A POST with a code for a secret the attacker never saw, from a stale session, does nothing either.
    assert signed_in_client.post(ENROL_PAGE, {"name": "x", "code": "123456"}).status_code == 302
    assert not TOTPDevice.objects.exists()

    back = signed_in_client.post(
        "/accounts/reauthenticate/", {"password": PASSWORD, "next": "/accounts/security/totp/add/"}
    )
    assert back["Location"] == ENROL_PAGE
    assert signed_in_client.get(ENROL_PAGE).status_code == 200


def test_page_shows_an_inline_qr_code_and_the_key_and_loads_nothing_from_elsewhere(signed_in_client, user):
    response = signed_in_client.get(ENROL_PAGE)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    qr = re.search(r'<figure class="qr">\s*<div role="img"[^>]*>(<svg.*?</svg>)', html, flags=re.S)
    assert qr, "the QR code is an inline SVG"
    assert "<img" not in html.split('class="steps"', 1)[1].split("</ol>", 1)[0]
    secret = secret_on_page(html)
    assert len(bytes.fromhex(secret)) == 20, "160-bit secret"

    # The QR code encodes the same key as the text, for this account and issuer.
    uri = totp.provisioning_uri(user, secret)
    assert f"secret={totp.readable_secret(secret).replace(' ', '')}" in uri
    assert "issuer=Identity" in uri and "ada%40example.com" in uri
    assert qr.group(1) == totp.qr_svg(uri)

    # Nothing on the page is fetched from another host (the QR code is not an image URL, the key is not
    # sent to a QR service).
    external = [
        url
        for url in re.findall(r'(?:src|href|action)\s*=\s*["\']?([^"\'\s>]+)', html)
        if re.match(r"(?:https?:)?//", url) and not re.match(r"(?:https?:)?//testserver/", url)
    ]
    assert external == []
    assert secret not in html, "the stored (hex) form is never shown, only the base32 key"


def test_page_offers_the_otpauth_link_and_labels_the_qr_code(signed_in_client, user):
    """On a phone the QR code cannot be scanned by the phone itself: the otpauth:// link opens the app."""
    from html import unescape
    from urllib.parse import parse_qs, unquote, urlsplit

    html = signed_in_client.get(ENROL_PAGE).content.decode()
    secret = secret_on_page(html)
    link = re.search(r'<a href="([^"]+)" id="totp-uri">([^<]+)</a>', html)
    assert link and link.group(2) == "Open in an authenticator app on this phone"
    uri = urlsplit(unescape(link.group(1)))
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert unquote(uri.path) == f"/Identity:{user.email}"
    query = {key: values[0] for key, values in parse_qs(uri.query).items()}
    assert query == {
        "secret": totp.readable_secret(secret).replace(" ", ""),
        "algorithm": "SHA1",
        "digits": "6",
        "period": "30",
        "issuer": "Identity",
    }
    label = re.search(r'<div role="img" aria-label="([^"]+)">', html)
    assert label and unescape(label.group(1)) == f"QR code that adds Identity ({user.email}) to an authenticator app"
    assert f'<figcaption class="muted small">Identity: {user.email}</figcaption>' in html
    assert re.search(r"<code>([A-Z2-7]{4} ){7}[A-Z2-7]{4}</code>", html), "the key in groups of four"


def test_the_key_stays_the_same_until_enrolment_completes(signed_in_client, user, clock):
    first = secret_on_page(signed_in_client.get(ENROL_PAGE).content.decode())
    assert secret_on_page(signed_in_client.get(ENROL_PAGE).content.decode()) == first
    valid = {code_for_secret(first, steps) for steps in (-1, 0, 1)}
    wrong_code = next(c for c in ("000000", "111111") if c not in valid)
    wrong = signed_in_client.post(ENROL_PAGE, {"name": "Phone", "code": wrong_code})
    assert secret_on_page(wrong.content.decode()) == first
    signed_in_client.post(ENROL_PAGE, {"name": "Phone", "code": code_for_secret(first)})
    assert TOTPDevice.objects.get(user=user).key == first
    clock.advance(30)  # the account holds a second factor now: adding another needs it, with its next code
    assert reauthenticate(signed_in_client, code_for_secret(first), ENROL_PAGE)["Location"] == ENROL_PAGE
    assert secret_on_page(signed_in_client.get(ENROL_PAGE).content.decode()) != first, "a new key next time"


def test_each_session_gets_its_own_key(user, signed_in_client, browser):
    other = browser()
    password_step(other, user.email)
    assert secret_on_page(signed_in_client.get(ENROL_PAGE).content.decode()) != secret_on_page(
        other.get(ENROL_PAGE).content.decode()
    )


@pytest.mark.parametrize("code", ["wrong", "two-steps-ahead", "two-steps-ago", "12345"])
def test_a_wrong_code_creates_nothing(signed_in_client, user, code, deliver_outbox):
    secret = secret_on_page(signed_in_client.get(ENROL_PAGE).content.decode())
    valid = {code_for_secret(secret, steps) for steps in (-1, 0, 1)}
    submitted = {
        "wrong": next(c for c in ("000000", "111111") if c not in valid),
        "two-steps-ahead": code_for_secret(secret, steps_ago=-2),
        "two-steps-ago": code_for_secret(secret, steps_ago=2),
        "12345": "12345",
    }[code]
    response = signed_in_client.post(ENROL_PAGE, {"name": "Phone", "code": submitted})
    assert response.status_code == 400
    html = response.content.decode()
    expected = "Enter the 6 digits" if code == "12345" else "That code is not right. Check the time on your phone"
    assert expected in html
    assert not TOTPDevice.objects.exists()
    assert not RecoveryCode.objects.exists()
    assert not SecurityEvent.objects.filter(kind=Event.MFA_ADDED).exists()
    assert [m for m in deliver_outbox() if m.subject == MFA_MAIL] == []


def test_the_right_code_adds_the_device_shows_codes_mails_and_audits(signed_in_client, user, deliver_outbox):
    deliver_outbox().clear()
    response, secret = enrol_through_pages(signed_in_client, name="Work phone")
    assert response.status_code == 302 and response["Location"] == CODES_PAGE
    device = TOTPDevice.objects.get(user=user)
    assert (device.name, device.key, device.confirmed) == ("Work phone", secret, True)
    assert device.step == 30 and device.digits == 6

    page = signed_in_client.get(CODES_PAGE)
    assert page.status_code == 200 and "Save your recovery codes" in page.content.decode()
    assert signed_in_client.get(CODES_PAGE)["Location"] == "/accounts/security/"

    [mail] = [m for m in deliver_outbox() if m.subject == MFA_MAIL]
    assert mail.to == [user.email]
    assert "An authenticator app was added to your account" in mail.body
    assert secret not in mail.body and totp.readable_secret(secret) not in mail.body
    [added] = SecurityEvent.objects.filter(kind=Event.MFA_ADDED)
    assert added.user == user

    # Enrolling proves nothing about who holds the session: the new factor does not count for it yet.
    assert [m["method"] for m in signed_in_client.session["accounts.auth_methods"]] == ["pwd"]
    security = signed_in_client.get("/accounts/security/").content.decode()
    assert "Work phone" in security and "10 recovery codes left." in security


def test_the_enrolment_code_cannot_be_used_again_to_sign_in(signed_in_client, user, browser):
    response, secret = enrol_through_pages(signed_in_client)
    code = code_for_secret(secret)
    c = browser()
    assert password_step(c, user.email)["Location"] == MFA_PAGE
    assert submit_code(c, code).status_code == 400
    assert not is_signed_in(c)


def test_from_then_on_sign_in_asks_for_a_code(signed_in_client, user, browser, clock):
    _, secret = enrol_through_pages(signed_in_client)
    clock.advance(30)
    c = browser()
    assert password_step(c, user.email)["Location"] == MFA_PAGE
    assert submit_code(c, code_for_secret(secret))["Location"] == "/accounts/"


def test_the_recovery_codes_download_names_the_site_the_account_and_the_date(signed_in_client, user, clock):
    from html import unescape
    from urllib.parse import unquote

    from django.utils import timezone

    from .pages import codes_on_page

    enrol_through_pages(signed_in_client)
    html = signed_in_client.get(CODES_PAGE).content.decode()
    today = timezone.localdate().isoformat()
    link = re.search(r'<a download="([^"]+)" href="data:text/plain;charset=utf-8,([^"]+)">', html)
    assert link, html
    assert unescape(link.group(1)) == f"identity-recovery-codes-ada-example.com-{today}.txt"
    text = unquote(unescape(link.group(2)))
    first = text.splitlines()[0]
    assert first == f"Identity recovery codes for {user.email} (http://testserver), created {today}."
    assert text.split("\n\n", 1)[1].split() == codes_on_page(html)


def test_a_second_device_keeps_the_recovery_codes(signed_in_client, user, deliver_outbox, clock):
    _, phone = enrol_through_pages(signed_in_client, name="Phone")
    signed_in_client.get(CODES_PAGE)
    clock.advance(30)
    reauthenticate(signed_in_client, code_for_secret(phone), ENROL_PAGE)
    before = set(RecoveryCode.objects.values_list("pk", "code_hash"))
    response, _ = enrol_through_pages(signed_in_client, name="Tablet")
    assert response.status_code == 302 and response["Location"] == "/accounts/security/"
    assert set(RecoveryCode.objects.values_list("pk", "code_hash")) == before
    assert sorted(TOTPDevice.objects.values_list("name", flat=True)) == ["Phone", "Tablet"]
    assert signed_in_client.get(CODES_PAGE)["Location"] == "/accounts/security/", "no codes to show"
    assert SecurityEvent.objects.filter(kind=Event.MFA_ADDED).count() == 2
    assert SecurityEvent.objects.filter(kind=Event.RECOVERY_CODES_GENERATED).count() == 1
    assert len([m for m in deliver_outbox() if m.subject == MFA_MAIL]) == 2


def test_device_name_is_required_and_bounded(signed_in_client, user):
    secret = secret_on_page(signed_in_client.get(ENROL_PAGE).content.decode())
    for name in ("", "x" * 65):
        response = signed_in_client.post(ENROL_PAGE, {"name": name, "code": code_for_secret(secret)})
        assert response.status_code == 400
    assert not TOTPDevice.objects.exists()


def test_device_name_is_escaped_on_the_security_page(signed_in_client, user):
    enrol_through_pages(signed_in_client, name="<script>alert(1)</script>")
    html = signed_in_client.get("/accounts/security/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
