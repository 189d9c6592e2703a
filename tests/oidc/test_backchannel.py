"""Back-channel logout (OpenID Connect Back-Channel Logout 1.0) and the security page's apps list.

The back-channel tests use the real pieces: PostgreSQL with committed transactions (so the publish on
commit happens), Redis as the Celery broker, a real Celery worker (a thread of this process) and a real
HTTP server on loopback standing in for the relying app's back-channel logout endpoint. Every logout
token the receiver gets is checked with joserfc against the published JWKS, as an app would.
"""

from __future__ import annotations

import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
import redis
import requests
from django.conf import settings as django_settings
from django.test import Client as Browser
from django.urls import reverse
from joserfc import jwt
from joserfc.errors import InvalidClaimError
from joserfc.jwk import KeySet

from accounts.flows.lifecycle import deactivate_user, delete_user
from accounts.sessions import session_id, user_sessions
from oidc import tasks
from oidc.app_settings import app_settings as oidc_settings
from oidc.logout import BACKCHANNEL_EVENT
from oidc.models import Consent, PendingLogout, TokenFamily
from tests.loopback import serve_in_thread
from tests.processes import point_celery_at, wait_until_broker_idle
from tests.users import PASSWORD

from .relying_party import ISSUER, RelyingParty, register

DEAD_BROKER = "redis://127.0.0.1:1/0"  # nothing listens on port 1


# --- a relying app's back-channel logout endpoint -----------------------------------------------


class LogoutReceiver:
    """A real HTTP server on 127.0.0.1 recording every POST. It answers with the statuses queued in
    `statuses`, in order, then 200."""

    def __init__(self):
        self.received: list[dict] = []
        self.statuses: list[int] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                with receiver._changed:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.received.append(
                        {
                            "path": self.path,
                            "content_type": self.headers.get("Content-Type", ""),
                            "body": body,
                            "form": {key: values for key, values in parse_qs(body).items()},
                            "status": status,
                            "at": time.monotonic(),
                        }
                    )
                    receiver._changed.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = serve_in_thread(self.server)

    def url(self, path: str = "/backchannel-logout") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def wait_for(self, count: int, timeout: float = 30.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.received) < count and time.monotonic() < deadline:
                self._changed.wait(0.1)
            return list(self.received)

    def delivered(self) -> list[dict]:
        """The POSTs that were answered 2xx (what the app actually accepted)."""
        return [r for r in self.received if 200 <= r["status"] < 300]

    def tokens(self) -> list[str]:
        return [r["form"]["logout_token"][0] for r in self.delivered()]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = LogoutReceiver()
    yield server
    server.close()


@pytest.fixture
def broker(settings):
    """The test broker, emptied first; Celery points at it again afterwards, whatever happened."""
    queue = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    queue.flushdb()
    try:
        yield queue
    finally:
        point_celery_at(settings.CELERY_BROKER_URL)
        queue.close()


@pytest.fixture
def worker(broker, request):
    """A real Celery worker consuming from the (emptied) test broker."""
    return request.getfixturevalue("celery_worker")


def sign_in(email: str, **extra) -> Browser:
    browser = Browser(raise_request_exception=False, **extra)
    response = browser.post("/accounts/login/", {"email": email, "password": PASSWORD})
    assert response.status_code == 302, response.content
    return browser


def session_name(browser: Browser) -> str:
    """The non-secret id under which the security page names this browser's session."""
    return session_id(browser.cookies[django_settings.SESSION_COOKIE_NAME].value)


def app_with_backchannel(
    receiver: LogoutReceiver, name: str = "Notes", path: str = "/backchannel-logout"
) -> RelyingParty:
    client, secret = register(name, backchannel_logout_uri=receiver.url(path))
    return RelyingParty(client, secret)


def logout_claims(token: str, rp: RelyingParty) -> tuple[dict, dict]:
    """Validate a logout token as a relying app must (spec §2.6), against the published JWKS with
    joserfc; returns (header, claims)."""
    keyset = KeySet.import_key_set(rp.http.get("/oauth/jwks/").json())
    decoded = jwt.decode(token, keyset, algorithms=[rp.client.algorithm])  # the app's, as its ID tokens
    registry = jwt.JWTClaimsRegistry(
        leeway=5,
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": rp.client.client_id},
        iat={"essential": True},
        exp={"essential": True},
        jti={"essential": True},
        events={"essential": True},
    )
    registry.validate(decoded.claims)
    claims = dict(decoded.claims)
    header = dict(decoded.header)
    assert header["alg"] == rp.client.algorithm
    assert header["typ"] == "logout+jwt"
    assert header["kid"] in {key["kid"] for key in rp.http.get("/oauth/jwks/").json()["keys"]}
    assert isinstance(claims["iat"], int) and abs(claims["iat"] - time.time()) < 60
    assert claims["exp"] > claims["iat"]
    assert claims["exp"] - claims["iat"] <= oidc_settings.OIDC_LOGOUT_TOKEN_LIFETIME
    assert BACKCHANNEL_EVENT in claims["events"] and claims["events"][BACKCHANNEL_EVENT] == {}
    assert "nonce" not in claims  # §2.4: a logout token must not contain a nonce
    assert "sub" in claims or "sid" in claims
    return header, claims


# --- back-channel logout with a real worker and a real receiver ---------------------------------


@pytest.mark.django_db(transaction=True)
class TestBackchannelLogout:
    def test_sign_out_sends_a_valid_logout_token_and_revokes_the_sessions_refresh_token(self, receiver, worker, user):
        rp = app_with_backchannel(receiver)
        browser = sign_in(user.email)
        body = rp.sign_in_and_redeem(browser)
        id_claims = body["claims"]
        assert id_claims["sid"]

        response = browser.post("/accounts/logout/")
        assert response.status_code == 302

        [post] = receiver.wait_for(1)
        assert post["path"] == "/backchannel-logout"
        assert post["content_type"].startswith("application/x-www-form-urlencoded")
        assert list(post["form"]) == ["logout_token"]
        header, claims = logout_claims(post["form"]["logout_token"][0], rp)
        assert claims["iss"] == "http://testserver" == django_settings.SITE_URL
        assert claims["aud"] == rp.client.client_id
        assert claims["sub"] == id_claims["sub"] == str(user.subject)
        assert claims["sid"] == id_claims["sid"]
        assert header["kid"]
        assert rp.refresh(body["refresh_token"]).status_code == 400

    def test_sign_out_makes_the_refresh_and_access_tokens_of_that_session_stop_working(self, receiver, worker, user):
        rp = app_with_backchannel(receiver)
        browser = sign_in(user.email)
        body = rp.sign_in_and_redeem(browser)
        assert rp.userinfo(body["access_token"]).status_code == 200

        browser.post("/accounts/logout/")

        refreshed = rp.refresh(body["refresh_token"])
        assert refreshed.status_code == 400, refreshed.content
        assert refreshed.json()["error"] == "invalid_grant"
        assert rp.userinfo(body["access_token"]).status_code == 401
        assert TokenFamily.objects.get(user=user).revoked_at is not None
        receiver.wait_for(1)

    def test_each_app_of_the_session_gets_its_own_token(self, receiver, worker, user):
        notes = app_with_backchannel(receiver, "Notes", "/notes")
        mail = app_with_backchannel(receiver, "Mail", "/mail")
        browser = sign_in(user.email)
        notes_sid = notes.sign_in_and_redeem(browser)["claims"]["sid"]
        mail_sid = mail.sign_in_and_redeem(browser)["claims"]["sid"]
        assert notes_sid == mail_sid

        browser.post("/accounts/logout/")

        posts = receiver.wait_for(2)
        assert sorted(p["path"] for p in posts) == ["/mail", "/notes"]
        by_path = {p["path"]: p["form"]["logout_token"][0] for p in posts}
        _, for_notes = logout_claims(by_path["/notes"], notes)
        _, for_mail = logout_claims(by_path["/mail"], mail)
        assert for_notes["sid"] == for_mail["sid"] == notes_sid
        assert for_notes["jti"] != for_mail["jti"]
        with pytest.raises(InvalidClaimError):  # a token meant for one app is refused by the other
            logout_claims(by_path["/notes"], mail)

    def test_ending_the_session_from_another_browser_tells_the_app_with_that_sid(self, receiver, broker, worker, user):
        rp = app_with_backchannel(receiver)
        laptop = sign_in(user.email)
        body = rp.sign_in_and_redeem(laptop)
        phone = sign_in(user.email, HTTP_USER_AGENT="Phone")
        phone_sid_claim = rp.sign_in_and_redeem(phone)["claims"]["sid"]
        assert phone_sid_claim != body["claims"]["sid"]

        page = phone.get("/accounts/security/").content.decode()
        assert f'name="session" value="{session_name(laptop)}"' in page
        response = phone.post(reverse("accounts:end_session"), {"session": session_name(laptop)})
        assert response.status_code == 302
        assert list(user_sessions(user.pk)) == [session_name(phone)]

        [post] = receiver.wait_for(1)
        _, claims = logout_claims(post["form"]["logout_token"][0], rp)
        assert claims["sid"] == body["claims"]["sid"]
        assert claims["sub"] == body["claims"]["sub"]
        assert rp.refresh(body["refresh_token"]).status_code == 400
        wait_until_broker_idle(broker, timeout=30.0, quiet=0.7)
        assert len(receiver.received) == 1  # the phone's session, still signed in, is left alone

    def test_signing_out_all_other_sessions_tells_the_app_for_each_of_them(self, receiver, broker, worker, user):
        rp = app_with_backchannel(receiver)
        laptop = sign_in(user.email)
        laptop_body = rp.sign_in_and_redeem(laptop)
        phone = sign_in(user.email)
        phone_body = rp.sign_in_and_redeem(phone)

        response = phone.post(reverse("accounts:end_other_sessions"))
        assert response.status_code == 302 and response["Location"] == reverse("accounts:security")

        [post] = receiver.wait_for(1)
        _, claims = logout_claims(post["form"]["logout_token"][0], rp)
        assert claims["sid"] == laptop_body["claims"]["sid"]
        assert rp.refresh(laptop_body["refresh_token"]).status_code == 400
        assert rp.refresh(phone_body["refresh_token"]).status_code == 200  # the phone's own session goes on
        wait_until_broker_idle(broker, timeout=30.0, quiet=0.7)
        assert len(receiver.received) == 1

    def test_deactivation_revokes_every_token_and_tells_the_app(self, receiver, worker, user):
        rp = app_with_backchannel(receiver)
        first = rp.sign_in_and_redeem(sign_in(user.email))
        second = rp.sign_in_and_redeem(sign_in(user.email))

        deactivate_user(user)

        receiver.wait_for(1)
        for body in (first, second):
            assert rp.refresh(body["refresh_token"]).status_code == 400
            assert rp.userinfo(body["access_token"]).status_code == 401
        assert not TokenFamily.objects.filter(user=user, revoked_at__isnull=True).exists()
        for token in receiver.tokens():
            _, claims = logout_claims(token, rp)
            assert claims["sub"] == str(user.subject)

    def test_deactivation_logout_token_names_the_person_not_a_session(self, receiver, broker, worker, user):
        rp = app_with_backchannel(receiver)
        rp.sign_in_and_redeem(sign_in(user.email))
        rp.sign_in_and_redeem(sign_in(user.email))

        deactivate_user(user)

        receiver.wait_for(1)
        wait_until_broker_idle(broker, timeout=30.0, quiet=0.7)
        told = [logout_claims(token, rp)[1] for token in receiver.tokens()]
        assert all(claims["sub"] == str(user.subject) for claims in told)
        assert [sorted(set(claims) & {"sub", "sid"}) for claims in told] == [["sub"]]  # one token, by sub alone

    def test_deleting_the_account_still_tells_the_app(self, receiver, broker, worker, user):
        """The logout goes out after the account's row is gone (admin or SCIM delete): the task names
        the person by subject, not by a row it could no longer find."""
        rp = app_with_backchannel(receiver)
        rp.sign_in_and_redeem(sign_in(user.email))
        subject = str(user.subject)

        delete_user(user)

        receiver.wait_for(1)
        assert [logout_claims(token, rp)[1]["sub"] for token in receiver.tokens()] == [subject]

    def test_a_failing_receiver_gets_the_token_again_after_a_retry(self, receiver, worker, user):
        rp = app_with_backchannel(receiver)
        browser = sign_in(user.email)
        sid = rp.sign_in_and_redeem(browser)["claims"]["sid"]
        receiver.statuses = [500]

        browser.post("/accounts/logout/")

        # The first delivery fails (HTTP 500); the task retries with backoff (at most ~5 s the first time).
        posts = receiver.wait_for(2, timeout=40)
        assert [p["status"] for p in posts] == [500, 200]
        first, second = (p["form"]["logout_token"][0] for p in posts)
        assert first != second  # minted again at each attempt
        _, claims = logout_claims(second, rp)
        assert claims["sid"] == sid

    def test_sign_out_without_tokens_from_that_session_sends_nothing(self, receiver, broker, worker, user):
        rp = app_with_backchannel(receiver)
        laptop = sign_in(user.email)
        laptop_sid = rp.sign_in_and_redeem(laptop)["claims"]["sid"]
        phone = sign_in(user.email)
        # The phone even starts an authorization and gets a code, but the app never redeems it.
        request = rp.authorization()
        assert RelyingParty.callback(phone.get(request["url"]))["code"]

        assert phone.post("/accounts/logout/").status_code == 302
        # A control: the laptop's sign-out is queued after the phone's, and the solo worker keeps order.
        laptop.post("/accounts/logout/")

        receiver.wait_for(1)
        wait_until_broker_idle(broker, timeout=30.0, quiet=0.7)
        [post] = receiver.received
        _, claims = logout_claims(post["form"]["logout_token"][0], rp)
        assert claims["sid"] == laptop_sid

    def test_apps_without_a_backchannel_uri_are_not_called(self, receiver, broker, worker, user):
        told = app_with_backchannel(receiver, "Told")
        client, secret = register("Silent")
        silent = RelyingParty(client, secret)
        browser = sign_in(user.email)
        told.sign_in_and_redeem(browser)
        silent_body = silent.sign_in_and_redeem(browser)

        browser.post("/accounts/logout/")

        receiver.wait_for(1)
        wait_until_broker_idle(broker, timeout=30.0, quiet=0.7)
        [post] = receiver.received
        _, claims = logout_claims(post["form"]["logout_token"][0], told)
        assert claims["aud"] == told.client.client_id
        # Not told, but its tokens from that session are revoked all the same.
        assert silent.refresh(silent_body["refresh_token"]).status_code == 400

    def test_rp_initiated_logout_tells_the_other_apps_of_the_session(self, receiver, worker, user):
        client, secret = register("Initiator", post_logout_redirect_uris="https://rp.example/bye")
        initiator = RelyingParty(client, secret)
        other = app_with_backchannel(receiver, "Other")
        browser = sign_in(user.email)
        hint = initiator.sign_in_and_redeem(browser)["id_token"]
        sid = other.sign_in_and_redeem(browser)["claims"]["sid"]

        response = browser.get(
            "/oauth/logout/",
            {
                "id_token_hint": hint,
                "client_id": client.client_id,
                "post_logout_redirect_uri": "https://rp.example/bye",
            },
        )
        assert response.status_code == 302, response.content
        assert response["Location"].startswith("https://rp.example/bye")

        [post] = receiver.wait_for(1)
        _, claims = logout_claims(post["form"]["logout_token"][0], other)
        assert claims["sid"] == sid

    def test_removing_an_apps_access_tells_it_by_subject(self, receiver, worker, user):
        rp = app_with_backchannel(receiver)
        browser = sign_in(user.email)
        body = rp.sign_in_and_redeem(browser)

        response = browser.post(reverse("oauth2_provider:revoke-app", args=[rp.client.client_id]))
        assert response.status_code == 302

        [post] = receiver.wait_for(1)
        _, claims = logout_claims(post["form"]["logout_token"][0], rp)
        assert claims["sub"] == body["claims"]["sub"]
        assert "sid" not in claims
        assert rp.refresh(body["refresh_token"]).status_code == 400

    def test_sign_out_is_not_held_up_by_a_dead_broker(self, receiver, broker, user, caplog, settings):
        rp = app_with_backchannel(receiver)
        browser = sign_in(user.email)
        body = rp.sign_in_and_redeem(browser)

        point_celery_at(DEAD_BROKER)
        try:
            started = time.monotonic()
            response = browser.post("/accounts/logout/")
            elapsed = time.monotonic() - started
        finally:
            point_celery_at(settings.CELERY_BROKER_URL)

        assert response.status_code == 302
        assert response["Location"] == reverse("accounts:signin")
        assert elapsed < 8, f"sign-out took {elapsed:.1f}s while the broker was down"
        assert f"back-channel logout to {rp.client.client_id} not queued" in caplog.text
        assert browser.get("/accounts/").status_code == 302  # signed out all the same
        assert rp.refresh(body["refresh_token"]).status_code == 400  # and the tokens revoked
        assert broker.llen("celery") == 0
        assert PendingLogout.objects.filter(client=rp.client, subject=user.subject).count() == 1

    def test_a_logout_that_waited_out_a_broker_outage_is_delivered_by_the_sweep(
        self, receiver, broker, user, settings, request
    ):
        rp = app_with_backchannel(receiver)
        browser = sign_in(user.email)
        body = rp.sign_in_and_redeem(browser)
        point_celery_at(DEAD_BROKER)
        try:
            browser.post("/accounts/logout/")
        finally:
            point_celery_at(settings.CELERY_BROKER_URL)
        assert receiver.received == []

        request.getfixturevalue("celery_worker")  # the broker is back, and a worker with it
        assert tasks.sweep_pending_logouts() == 1
        [post] = receiver.wait_for(1)
        _, claims = logout_claims(post["form"]["logout_token"][0], rp)
        assert claims["sub"] == body["claims"]["sub"] and claims["sid"] == body["claims"]["sid"]
        assert not PendingLogout.objects.exists()
        assert tasks.sweep_pending_logouts() == 0  # handed over once


# --- the delivery task, called directly ----------------------------------------------------------


@pytest.mark.django_db
class TestDeliveryTask:
    def test_retries_are_configured_with_backoff(self, settings):
        task = tasks.send_backchannel_logout
        assert tasks.LogoutNotDelivered in task.autoretry_for
        assert requests.RequestException in task.autoretry_for
        assert task.max_retries == oidc_settings.OIDC_BACKCHANNEL_LOGOUT_RETRIES >= 1
        assert task.retry_backoff and task.retry_jitter
        assert task.retry_backoff_max >= 60

    @pytest.mark.parametrize("status", [500, 503, 404, 302, 400])
    def test_a_non_2xx_answer_raises_so_celery_retries(self, receiver, user, status):
        rp = app_with_backchannel(receiver)
        receiver.statuses = [status]
        with pytest.raises(tasks.LogoutNotDelivered, match=rf"HTTP {status}"):
            tasks.send_backchannel_logout(rp.client.pk, user.pk, "some-sid")
        assert len(receiver.received) == 1

    @pytest.mark.parametrize("status", [200, 204])
    def test_a_2xx_answer_is_delivered(self, receiver, user, status):
        rp = app_with_backchannel(receiver)
        receiver.statuses = [status]
        tasks.send_backchannel_logout(rp.client.pk, user.pk, "some-sid")
        [post] = receiver.received
        _, claims = logout_claims(post["form"]["logout_token"][0], rp)
        assert claims["sid"] == "some-sid"

    def test_an_unreachable_app_raises_a_request_error(self, user):
        from tests.processes import free_port

        client, _ = register("Down", backchannel_logout_uri=f"http://127.0.0.1:{free_port()}/logout")
        with pytest.raises(requests.RequestException):
            tasks.send_backchannel_logout(client.pk, user.pk, "")

    def test_without_a_sid_the_token_names_the_subject_only(self, receiver, user):
        rp = app_with_backchannel(receiver)
        tasks.send_backchannel_logout(rp.client.pk, user.pk)
        _, claims = logout_claims(receiver.tokens()[0], rp)
        assert claims["sub"] == str(user.subject)
        assert "sid" not in claims

    def test_nothing_is_sent_for_an_app_without_uri_or_a_deleted_app_or_user(self, receiver, user):
        silent, _ = register("Silent")
        tasks.send_backchannel_logout(silent.pk, user.pk, "x")
        rp = app_with_backchannel(receiver)
        tasks.send_backchannel_logout(rp.client.pk, 999_999, "x")
        tasks.send_backchannel_logout(999_999, user.pk, "x")
        assert receiver.received == []


# --- the security page's apps list --------------------------------------------------------------


def apps_section(html: str) -> str:
    return html.split('id="apps-heading"', 1)[1].split("</section>", 1)[0]


def csrf_token(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


def strict_browser(signed_in: Browser) -> Browser:
    """The same signed-in person in a browser whose requests Django checks for CSRF."""
    strict = Browser(enforce_csrf_checks=True, raise_request_exception=False)
    strict.cookies = signed_in.cookies
    return strict


@pytest.fixture
def consented(rp, signed_in_client, generous_limits):
    """The signed-in person consented to the app (the consent page was shown and allowed)."""
    request = rp.authorization()
    assert signed_in_client.get(request["url"]).status_code == 200  # the consent page
    body = rp.sign_in_and_redeem(signed_in_client)
    return body


@pytest.mark.django_db
class TestSecurityPageApps:
    def test_no_apps_before_consent(self, signed_in_client, rp):
        section = apps_section(signed_in_client.get("/accounts/security/").content.decode())
        assert "No apps use your account." in section
        assert rp.client.client_id not in section

    def test_a_consented_app_is_listed_with_a_remove_access_form(self, consented, rp, signed_in_client):
        section = apps_section(signed_in_client.get("/accounts/security/").content.decode())
        assert rp.client.name in section
        assert f'action="{reverse("oauth2_provider:revoke-app", args=[rp.client.client_id])}"' in section
        assert "Remove access" in section

    def test_a_first_party_app_with_live_tokens_is_listed_too(self, signed_in_client, user):
        client, secret = register("First party", skip_authorization=True)
        RelyingParty(client, secret).sign_in_and_redeem(signed_in_client)
        assert not Consent.objects.filter(user=user).exists()
        section = apps_section(signed_in_client.get("/accounts/security/").content.decode())
        assert "First party" in section

    def test_remove_access_forgets_consent_revokes_tokens_and_asks_again(self, consented, rp, signed_in_client, user):
        strict = strict_browser(signed_in_client)
        page = strict.get("/accounts/security/").content.decode()
        url = reverse("oauth2_provider:revoke-app", args=[rp.client.client_id])

        response = strict.post(url, {"csrfmiddlewaretoken": csrf_token(page)})

        assert response.status_code == 302
        assert response["Location"] == reverse("accounts:security")
        assert not Consent.objects.filter(user=user, client=rp.client).exists()
        assert rp.refresh(consented["refresh_token"]).status_code == 400
        assert rp.userinfo(consented["access_token"]).status_code == 401
        after = strict.get("/accounts/security/").content.decode()
        assert "can no longer use your account" in after
        assert rp.client.name not in apps_section(after)
        # The next authorization asks for consent again.
        again = signed_in_client.get(rp.authorization()["url"])
        assert again.status_code == 200
        assert 'name="decision"' in again.content.decode()

    def test_remove_access_needs_the_csrf_token(self, consented, rp, signed_in_client, user):
        strict = strict_browser(signed_in_client)
        strict.get("/accounts/security/")  # has the CSRF cookie, but posts no token
        response = strict.post(reverse("oauth2_provider:revoke-app", args=[rp.client.client_id]))
        assert response.status_code == 403
        wrong = strict.post(
            reverse("oauth2_provider:revoke-app", args=[rp.client.client_id]), {"csrfmiddlewaretoken": "x" * 64}
        )
        assert wrong.status_code == 403
        assert Consent.objects.filter(user=user, client=rp.client).exists()
        assert rp.refresh(consented["refresh_token"]).status_code == 200

    def test_remove_access_needs_sign_in_and_post(self, consented, rp, signed_in_client, user, client):
        url = reverse("oauth2_provider:revoke-app", args=[rp.client.client_id])
        anonymous = client.post(url)
        assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("accounts:signin"))
        assert signed_in_client.get(url).status_code == 405
        assert Consent.objects.filter(user=user, client=rp.client).exists()
        assert rp.refresh(consented["refresh_token"]).status_code == 200

    def test_another_user_cannot_remove_it(self, consented, rp, user, make_user):
        make_user("bob@example.com")
        bob = sign_in("bob@example.com")
        response = bob.post(reverse("oauth2_provider:revoke-app", args=[rp.client.client_id]))
        assert response.status_code == 302  # Bob removed his own (absent) access to that app
        assert Consent.objects.filter(user=user, client=rp.client).exists()
        assert rp.refresh(consented["refresh_token"]).status_code == 200
        assert rp.client.name not in apps_section(bob.get("/accounts/security/").content.decode())

    def test_removing_an_unknown_app_is_a_404(self, signed_in_client):
        assert signed_in_client.post(reverse("oauth2_provider:revoke-app", args=["no-such-app"])).status_code == 404

    def test_removing_one_app_leaves_the_others(self, consented, rp, signed_in_client, user):
        client, secret = register("Other app")
        other = RelyingParty(client, secret)
        other_body = other.sign_in_and_redeem(signed_in_client)
        signed_in_client.post(reverse("oauth2_provider:revoke-app", args=[rp.client.client_id]))
        assert Consent.objects.filter(user=user, client=client).exists()
        assert other.refresh(other_body["refresh_token"]).status_code == 200
        assert "Other app" in apps_section(signed_in_client.get("/accounts/security/").content.decode())
