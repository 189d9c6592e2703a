"""New passwords are checked against breached passwords (ASVS 6.2.12), through a real local range
server that speaks Have I Been Pwned's range API (there is no internet here)."""

from __future__ import annotations

import hashlib
import re
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client

from accounts.models import User
from tests.loopback import serve_in_thread
from tests.processes import free_port
from tests.users import PASSWORD

pytestmark = pytest.mark.django_db

BREACHED = "sunflower meadow 1987"  # long enough and not in Django's common list, but "breached" here
FRESH = "quiet lantern orbit 52"
BREACHED_MESSAGE = "This password has appeared in a data breach"


def sha1(password: str) -> str:
    return hashlib.sha1(password.encode(), usedforsecurity=False).hexdigest().upper()


class RangeServer:
    """Answers GET /range/<5 hex> with 'SUFFIX:COUNT' lines, padded like the real service; records
    every request it receives (path and headers) so tests can see what left Identity."""

    def __init__(self, breached: dict[str, int], delay: float = 0.0):
        self.breached = {sha1(password): count for password, count in breached.items()}
        self.delay = delay
        self.requests: list[tuple[str, dict[str, str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                server.requests.append((self.path, dict(self.headers)))
                time.sleep(server.delay)
                prefix = self.path.rsplit("/", 1)[-1]
                lines = [f"{h[5:]}:{n}" for h, n in server.breached.items() if h.startswith(prefix)]
                lines += [f"{i:035X}:0" for i in range(20)]  # padding rows, as Add-Padding asks for
                body = "\r\n".join(lines).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/range/"
        serve_in_thread(self.httpd)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def breach_check(settings):
    """The check on, against a local range server that knows BREACHED."""
    server = RangeServer({BREACHED: 4211})
    settings.PASSWORD_BREACH_CHECK = True
    settings.PASSWORD_BREACH_CHECK_URL = server.url
    settings.PASSWORD_BREACH_CHECK_TIMEOUT = 1.0
    yield server
    server.stop()


def sign_up(c: Client, email: str, password: str):
    return c.post("/accounts/signup/", {"email": email, "password": password})


def test_a_breached_password_is_refused_at_sign_up(client, breach_check):
    response = sign_up(client, "new@example.com", BREACHED)
    assert response.status_code == 400 and BREACHED_MESSAGE in response.content.decode()
    assert not User.objects.filter(email="new@example.com").exists()
    assert sign_up(client, "new@example.com", FRESH).status_code == 302


def test_a_breached_password_is_refused_at_password_change(user, breach_check):
    c = Client()
    assert c.post("/accounts/login/", {"email": user.email, "password": PASSWORD}).status_code == 302
    response = c.post(
        "/accounts/password/change/", {"old_password": PASSWORD, "new_password1": BREACHED, "new_password2": BREACHED}
    )
    assert response.status_code == 400 and BREACHED_MESSAGE in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_a_breached_password_is_refused_at_reset(client, user, breach_check, deliver_outbox):
    client.post("/accounts/password/reset/", {"email": user.email})
    path = re.search(r"http://testserver(/accounts/password/reset/[^\s]+/)", deliver_outbox()[0].body).group(1)
    form_url = client.get(path)["Location"]
    response = client.post(form_url, {"new_password1": BREACHED, "new_password2": BREACHED})
    assert response.status_code == 400 and BREACHED_MESSAGE in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert client.post(form_url, {"new_password1": FRESH, "new_password2": FRESH}).status_code == 302


def test_the_German_page_says_it_in_German(client, breach_check):
    response = client.post(
        "/accounts/signup/", {"email": "neu@example.com", "password": BREACHED}, HTTP_ACCEPT_LANGUAGE="de"
    )
    assert response.status_code == 400
    assert "Datenleck" in response.content.decode()


def test_only_a_five_character_hash_prefix_leaves_the_server(client, breach_check):
    sign_up(client, "new@example.com", BREACHED)
    [(path, headers)] = breach_check.requests
    digest = sha1(BREACHED)
    assert path == f"/range/{digest[:5]}"
    assert headers.get("Add-Padding") == "true", "padding hides which prefix a big answer belongs to"
    sent = path + repr(headers)
    assert digest[5:11] not in sent.upper() and BREACHED not in sent


@pytest.mark.parametrize("outage", ["down", "slow"])
def test_when_the_range_service_fails_the_common_list_still_applies_and_sign_up_goes_on(client, settings, outage):
    """Fail-open to the offline floor (documented in accounts/validators.py): a third party's outage
    must not stop sign-up or a reset, and Django's common-password list still refuses the worst."""
    settings.PASSWORD_BREACH_CHECK = True
    settings.PASSWORD_BREACH_CHECK_TIMEOUT = 0.3
    server = None
    if outage == "down":
        settings.PASSWORD_BREACH_CHECK_URL = f"http://127.0.0.1:{free_port()}/range/"
    else:
        server = RangeServer({BREACHED: 1}, delay=2.0)
        settings.PASSWORD_BREACH_CHECK_URL = server.url
    try:
        common = sign_up(client, "a@example.com", "password1234")
        assert common.status_code == 400 and "too common" in common.content.decode()
        started = time.monotonic()
        assert sign_up(client, "b@example.com", BREACHED).status_code == 302, "fail-open: unknown to the floor"
        assert time.monotonic() - started < 1.5, "the short timeout bounds the wait"
    finally:
        if server:
            server.stop()


def test_the_check_can_be_turned_off(client, breach_check, settings):
    settings.PASSWORD_BREACH_CHECK = False
    assert sign_up(client, "new@example.com", BREACHED).status_code == 302
    assert breach_check.requests == []
