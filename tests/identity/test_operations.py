"""Operations: liveness and readiness probes, security headers, the deploy checks, request ids, and logs
that never hold a secret."""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import socket
import string
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.core.signals import request_finished, request_started
from django.test import Client

from identity.logging import JsonFormatter, redact
from identity.redis import connection
from tests.processes import point_celery_at
from tests.users import PASSWORD, add_totp, pass_mfa, totp_code

ROOT = Path(__file__).resolve().parents[2]
DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connections are refused at once
HEX_ID = re.compile(r"^[0-9a-f]{32}$")


# --- helpers ----------------------------------------------------------------------------------


@pytest.fixture
def dead_redis(settings):
    """Redis (the app's own pool and Django's cache) pointed at a port where nothing listens."""
    settings.REDIS_URL = DEAD_REDIS
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": DEAD_REDIS},
    }
    connection.cache_clear()
    yield
    connection.cache_clear()


@contextmanager
def broker_at(url: str, settings):
    point_celery_at(url)
    try:
        yield
    finally:
        point_celery_at(settings.CELERY_BROKER_URL)


class Blackhole:
    """A TCP port that accepts connections (the kernel's backlog) but never answers: a hung service."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def close(self):
        self.sock.close()  # connections waiting in the backlog are reset


@pytest.fixture
def blackhole():
    hole = Blackhole()
    yield hole
    hole.close()


def timed_get(client: Client, path: str, **extra):
    start = time.monotonic()
    response = client.get(path, **extra)
    return response, time.monotonic() - start


# --- 1. liveness --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_healthz_answers_ok_before_host_check_redirect_redis_and_database(
    client, settings, dead_redis, django_assert_num_queries
):
    settings.SECURE_SSL_REDIRECT = True
    with broker_at(DEAD_REDIS, settings), django_assert_num_queries(0):
        response = client.get("/healthz", HTTP_HOST="10.1.2.3:8000")
    assert response.status_code == 200
    assert response.content.decode().strip() == "ok"
    assert response["Content-Type"].startswith("text/plain")


def test_healthz_needs_no_database_at_all(client, dead_redis):
    """No django_db mark: any query would raise instead of being counted."""
    response = client.get("/healthz", HTTP_HOST="10.1.2.3:8000")
    assert response.status_code == 200 and response.content == b"ok\n"


def test_the_same_settings_do_redirect_and_refuse_hosts_for_ordinary_pages(client, settings):
    """Control for the test above: the redirect and the host check are really on."""
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/accounts/login/").status_code == 301
    settings.SECURE_SSL_REDIRECT = False
    assert client.get("/accounts/login/", HTTP_HOST="10.1.2.3:8000").status_code == 400


# --- 2. readiness -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_readyz_reports_every_dependency_ok(client):
    response = client.get("/readyz", HTTP_HOST="10.1.2.3:8000")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert json.loads(response.content) == {
        "ready": True,
        "checks": {"database": "ok", "redis": "ok", "broker": "ok", "signing_keys": "ok", "saml_certificate": "ok"},
    }


@pytest.mark.django_db
def test_readyz_answers_503_naming_redis_when_redis_stops(client, own_redis):
    assert client.get("/readyz").status_code == 200
    own_redis.stop()
    response, elapsed = timed_get(client, "/readyz")
    assert response.status_code == 503
    body = json.loads(response.content)
    assert body["ready"] is False
    assert body["checks"]["redis"].startswith("error")
    assert body["checks"]["database"] == "ok" and body["checks"]["broker"] == "ok"
    assert elapsed < 3, f"readiness took {elapsed:.1f}s with Redis down"


@pytest.mark.django_db
def test_readyz_answers_503_naming_the_broker_when_it_is_unreachable(client, settings):
    with broker_at(DEAD_REDIS, settings):
        response, elapsed = timed_get(client, "/readyz")
    assert response.status_code == 503
    body = json.loads(response.content)
    assert body["ready"] is False
    assert body["checks"]["broker"].startswith("error")
    assert body["checks"]["database"] == "ok" and body["checks"]["redis"] == "ok"
    assert elapsed < 3, f"readiness took {elapsed:.1f}s with the broker down"
    assert client.get("/readyz").status_code == 200, "the broker is back"


@pytest.mark.django_db
def test_readyz_answers_quickly_when_redis_hangs(client, settings, blackhole):
    settings.REDIS_URL = blackhole.url
    response, elapsed = timed_get(client, "/readyz")
    assert response.status_code == 503
    assert json.loads(response.content)["checks"]["redis"].startswith("error")
    assert elapsed < 3, f"readiness took {elapsed:.1f}s with Redis hanging"


@pytest.mark.django_db
def test_readyz_answers_quickly_when_the_broker_hangs(client, settings, blackhole):
    with broker_at(blackhole.url, settings):
        response, elapsed = timed_get(client, "/readyz")
    assert response.status_code == 503
    assert json.loads(response.content)["checks"]["broker"].startswith("error")
    assert elapsed < 3, f"readiness took {elapsed:.1f}s with the broker hanging"


@pytest.mark.django_db
def test_readyz_answers_quickly_when_the_database_hangs(client, settings, monkeypatch, blackhole):
    import threading

    from django.db.utils import ConnectionHandler

    from identity import health

    hung = {**settings.DATABASES["default"], "HOST": "127.0.0.1", "PORT": blackhole.port}
    databases = ConnectionHandler({"default": hung})
    monkeypatch.setattr(health, "db_connection", databases["default"])
    result = {}
    thread = threading.Thread(target=lambda: result.update(response=client.get("/readyz")), daemon=True)
    thread.start()
    thread.join(3)
    answered_in_time = not thread.is_alive()
    blackhole.close()  # let a hung check fail now, before the test's fixtures are torn down
    thread.join(10)
    databases["default"].close()
    assert answered_in_time, "no answer within 3 s"
    assert result["response"].status_code == 503
    assert json.loads(result["response"].content)["checks"]["database"].startswith("error")


@pytest.mark.django_db
def test_readyz_is_never_rate_limited(client, settings):
    settings.RATE_LIMITS = {name: "1/h" for name in settings.RATE_LIMITS}
    statuses = [client.get("/readyz").status_code for _ in range(200)]
    assert statuses == [200] * 200


@pytest.mark.django_db
def test_probes_are_not_logged_at_info_when_healthy(client, caplog):
    caplog.set_level(logging.DEBUG)
    assert client.get("/readyz").status_code == 200
    assert client.get("/healthz").status_code == 200
    noisy = [
        r
        for r in caplog.records
        if r.levelno >= logging.INFO and ("readyz" in r.getMessage() or "healthz" in r.getMessage())
    ]
    assert noisy == []
    assert [r for r in caplog.records if r.name.startswith("django") and r.levelno >= logging.INFO] == []


# --- 3. security headers ----------------------------------------------------------------------


@pytest.mark.django_db
def test_normal_pages_carry_a_strict_csp_and_the_other_security_headers(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    directives = {d.strip().split()[0]: d.strip().split()[1:] for d in csp.split(";") if d.strip()}
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "Content-Security-Policy-Report-Only" not in response.headers
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    permissions = [p.strip() for p in response["Permissions-Policy"].split(",")]
    assert "publickey-credentials-get=(self)" in permissions
    assert "camera=()" in permissions and "geolocation=()" in permissions


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/accounts/signup/", "/accounts/password/reset/", "/no/such/page/"])
def test_other_pages_and_error_pages_carry_the_csp_too(client, path):
    response = client.get(path)
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/accounts/verify/anything/",
        "/accounts/password/reset/x/y/",
        "/accounts/email/confirm/z/",
    ],
)
def test_token_pages_send_no_referrer(client, path):
    response = client.get(path)
    assert response.status_code < 500
    assert response["Referrer-Policy"] == "no-referrer"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/accounts/verify/confirm/", "/accounts/email/confirm/", "/accounts/password/reset/MQ/set-password/"]
)
def test_token_free_confirmation_pages_keep_same_origin_referrers(client, path):
    """Their forms POST back: under no-referrer, browsers send `Origin: null` and CSRF would refuse."""
    assert client.get(path)["Referrer-Policy"] == "same-origin"


TEMPLATES_DIR = ROOT / "templates"


def page_templates():
    return sorted(
        p for p in TEMPLATES_DIR.rglob("*") if p.is_file() and "mail" not in p.relative_to(TEMPLATES_DIR).parts[:1]
    )


def test_there_are_page_templates_to_scan():
    names = {p.relative_to(TEMPLATES_DIR).as_posix() for p in page_templates()}
    assert "base.html" in names and "accounts/signin.html" in names
    assert not any(name.startswith("mail/") for name in names)


@pytest.mark.parametrize("template", page_templates(), ids=lambda p: p.relative_to(TEMPLATES_DIR).as_posix())
def test_templates_have_nothing_inline_that_the_csp_would_block(template):
    text = template.read_text()
    for tag in re.findall(r"<script\b[^>]*>", text, re.I):
        assert re.search(r"\ssrc\s*=", tag, re.I), f"inline <script> in {template}: {tag}"
    assert not re.search(r"\sstyle\s*=", text, re.I), f"style= attribute in {template}"
    assert not re.search(r"<style\b", text, re.I), f"<style> element in {template}"
    assert not re.search(r"\son[a-z]+\s*=\s*[\"']", text, re.I), f"inline event handler in {template}"
    assert "javascript:" not in text.lower(), f"javascript: URL in {template}"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/accounts/login/", "/accounts/signup/", "/accounts/password/reset/"])
def test_rendered_pages_have_no_inline_script_or_style(client, path):
    html = client.get(path).content.decode()
    for tag in re.findall(r"<script\b[^>]*>", html, re.I):
        assert re.search(r"\ssrc\s*=", tag, re.I), tag
    assert not re.search(r"\sstyle\s*=|<style\b", html, re.I)


# --- 4. deploy checks and HSTS ------------------------------------------------------------------


def production_env(**extra) -> dict:
    prefixes = (
        "DJANGO_",
        "DATABASE_",
        "SECURE_",
        "SITE_",
        "REDIS_",
        "CELERY_",
        "TRUSTED_",
        "LOG_",
        "SESSION_",
        "EMAIL_",
    )
    keep = {k: v for k, v in os.environ.items() if not k.startswith(prefixes + ("PYTEST",))}
    alphabet = string.ascii_letters + string.digits + "!@#%^&*(-_=+)"
    keep.update(
        DJANGO_SETTINGS_MODULE="identity.settings",
        DJANGO_SECRET_KEY="".join(secrets.choice(alphabet) for _ in range(50)),
        SITE_URL="https://id.example.com",
        DJANGO_ALLOWED_HOSTS="id.example.com",
        DATABASE_URL=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/identity"),
        REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"),
        CELERY_BROKER_URL=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15"),
    )
    keep.update(extra)
    return keep


def test_check_deploy_passes_with_production_settings_and_nothing_silenced():
    env = production_env()
    assert "DJANGO_DEBUG" not in env
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "no issues (0 silenced)" in output, output


PRODUCTION_REQUESTS = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client
c = Client(raise_request_exception=False)
plain = c.get("/accounts/login/", HTTP_HOST="id.example.com")
health = c.get("/healthz", HTTP_HOST="10.1.2.3:8000")
ready = c.get("/readyz", HTTP_HOST="10.1.2.3:8000")
secure = c.get("/", HTTP_HOST="id.example.com", secure=True)
print(json.dumps({
    "silenced": settings.SILENCED_SYSTEM_CHECKS,
    "hsts_seconds": settings.SECURE_HSTS_SECONDS,
    "plain": [plain.status_code, plain.get("Location", ""), plain.get("Strict-Transport-Security")],
    "health": [health.status_code, health.content.decode()],
    "ready": ready.status_code,
    "secure": [secure.status_code, secure.get("Strict-Transport-Security")],
}))
"""


def test_production_settings_redirect_to_https_send_hsts_and_leave_probes_alone():
    result = subprocess.run(
        [sys.executable, "-c", PRODUCTION_REQUESTS],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["silenced"] == []
    assert out["hsts_seconds"] >= 31536000
    assert out["plain"][0] == 301 and out["plain"][1] == "https://id.example.com/accounts/login/"
    assert out["plain"][2] is None, "HSTS only over https"
    assert out["health"] == [200, "ok\n"]
    assert out["ready"] in (200, 503)  # answered, not redirected nor refused for its Host
    assert out["secure"][0] == 302
    assert out["secure"][1] == "max-age=31536000; includeSubDomains; preload"


@pytest.mark.django_db
def test_hsts_is_sent_over_https_only(client, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    secure = client.get("/accounts/login/", secure=True)
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert "Strict-Transport-Security" not in client.get("/accounts/login/").headers


# --- 5. request ids -----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "method, path, extra, status",
    [
        ("get", "/accounts/login/", {}, 200),
        ("get", "/", {}, 302),
        ("get", "/no/such/page/", {}, 404),
        ("get", "/accounts/verify/junk/", {}, 400),
        ("get", "/accounts/login/", {"HTTP_HOST": "evil.example.com"}, 400),
        ("post", "/accounts/login/", {"data": {"email": "a@example.com", "password": "wrong password here"}}, 400),
    ],
)
def test_every_response_has_a_request_id(client, method, path, extra, status):
    response = getattr(client, method)(path, **extra)
    assert response.status_code == status
    assert HEX_ID.match(response["X-Request-ID"])


@pytest.mark.django_db
def test_request_ids_differ_between_requests(client):
    ids = {client.get("/accounts/login/")["X-Request-ID"] for _ in range(5)}
    assert len(ids) == 5


@pytest.mark.django_db
def test_request_id_from_an_untrusted_client_is_ignored(client, settings):
    settings.TRUSTED_PROXIES = []
    response = client.get("/accounts/login/", HTTP_X_REQUEST_ID="client-chosen-id-12345")
    assert response["X-Request-ID"] != "client-chosen-id-12345"
    assert HEX_ID.match(response["X-Request-ID"])


@pytest.mark.django_db
def test_request_id_from_a_proxy_that_is_not_trusted_is_ignored(client, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    response = client.get("/accounts/login/", HTTP_X_REQUEST_ID="client-chosen-id-12345", REMOTE_ADDR="127.0.0.1")
    assert HEX_ID.match(response["X-Request-ID"])


@pytest.mark.django_db
@pytest.mark.parametrize("incoming", ["proxy-id-0123456789", "a1b2c3d4-e5f6-4711-8000-123456789abc", "x" * 128])
def test_well_formed_request_id_from_a_trusted_proxy_is_kept(client, settings, incoming):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    response = client.get("/accounts/login/", HTTP_X_REQUEST_ID=incoming, REMOTE_ADDR="127.0.0.1")
    assert response["X-Request-ID"] == incoming


@pytest.mark.django_db
@pytest.mark.parametrize(
    "incoming",
    [
        "has spaces in it",
        "a" * 500,
        "x" * 129,
        "short",
        "",
        "id\r\nSet-Cookie: x=1",
        "<script>alert(1)</script>",
        "ab/cd/ef/gh",
    ],
)
def test_malformed_request_id_from_a_trusted_proxy_is_replaced(client, settings, incoming):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    response = client.get("/accounts/login/", HTTP_X_REQUEST_ID=incoming, REMOTE_ADDR="127.0.0.1")
    assert HEX_ID.match(response["X-Request-ID"])


# --- 6. logs hold no secrets ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, secret, kept",
    [
        ("Not Found: /accounts/verify/eyJ1IjoxfQ:1abc:xyz/", "eyJ1IjoxfQ:1abc:xyz", "/accounts/verify/[redacted]/"),
        (
            "GET https://id.example.com/accounts/verify/tok3n-value/ 400",
            "tok3n-value",
            "https://id.example.com/accounts/verify/[redacted]/",
        ),
        ("Bad Request: /accounts/email/confirm/emailtok.abc/", "emailtok.abc", "/accounts/email/confirm/[redacted]/"),
        (
            "Bad Request: /accounts/password/reset/MQ/cbx9a1-0f1e2d3c4b5a69788796a5b4c3d2e1f0/",
            "cbx9a1-0f1e2d3c4b5a69788796a5b4c3d2e1f0",
            "/accounts/password/reset/MQ/[redacted]/",
        ),
        ("password=hunter2hunter2&email=a%40example.com", "hunter2hunter2", "email=a%40example.com"),
        ("POST data: password: swordfish123", "swordfish123", "password: [redacted]"),
        ('{"email": "a@example.com", "code": "123456"}', "123456", '"email": "a@example.com"'),
        ("{'code': '654321'}", "654321", "'code': '[redacted]'"),
        ("csrfmiddlewaretoken=AbCdEf0123456789&x=1", "AbCdEf0123456789", "x=1"),
        ("/accounts/login/?token=s3cr3t-t0ken", "s3cr3t-t0ken", "/accounts/login/?token=[redacted]"),
        ("old_password=Old-Secret-1", "Old-Secret-1", "old_password=[redacted]"),
        ("SECRET=topsecretvalue", "topsecretvalue", "SECRET=[redacted]"),
    ],
)
def test_redact_scrubs_tokens_and_secret_values(text, secret, kept):
    scrubbed = redact(text)
    assert secret not in scrubbed
    assert kept in scrubbed


@pytest.mark.parametrize(
    "text",
    [
        "Not Found: /accounts/verify/confirm/",
        "Not Found: /accounts/verify/resend/",
        "Bad Request: /accounts/password/reset/MQ/set-password/",
        "Bad Request: /accounts/password/reset/sent/",
        "Bad Request: /accounts/email/confirm/",
        "mail 42 not sent: ConnectionRefusedError(111, 'Connection refused')",
    ],
)
def test_redact_leaves_token_free_text_alone(text):
    assert redact(text) == text


def test_redact_scrubs_a_whole_passphrase_in_json():
    scrubbed = redact(json.dumps({"email": "a@example.com", "password": PASSWORD}))
    assert "horse" not in scrubbed and "staple" not in scrubbed


def test_redact_scrubs_the_new_password_form_fields():
    scrubbed = redact("new_password1=S3cret-pass-one&new_password2=S3cret-pass-one")
    assert "S3cret-pass-one" not in scrubbed


class Capture(logging.Handler):
    """Formats every record with the production JSON formatter, noting whether it came during a request."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[tuple[str, bool, logging.LogRecord]] = []
        self.in_request = False

    def started(self, **kwargs):
        self.in_request = True

    def finished(self, **kwargs):
        self.in_request = False

    def emit(self, record):
        self.lines.append((self.format(record), self.in_request, record))


@pytest.fixture
def captured_logs():
    capture = Capture()
    request_started.connect(capture.started)
    request_finished.connect(capture.finished)
    root = logging.getLogger()
    saved = {"": (root.level, root.propagate)}
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    names = ["django", "django.request", "django.server", "django.security", "django.template", "django.db.backends"]
    names += ["accounts", "mfa", "identity", "celery", "kombu"]
    for name in names:
        logger = logging.getLogger(name)
        saved[name] = (logger.level, logger.propagate)
        logger.setLevel(logging.DEBUG)
        logger.propagate = True
    yield capture
    root.removeHandler(capture)
    for name, (level, propagate) in saved.items():
        logger = logging.getLogger(name) if name else root
        logger.setLevel(level)
        logger.propagate = propagate
    request_started.disconnect(capture.started)
    request_finished.disconnect(capture.finished)


def last_path(mail_list, pattern: str) -> str:
    for mail in reversed(mail_list):
        found = re.search(pattern, mail.body)
        if found:
            return found.group(1)
    raise AssertionError(f"no mail matching {pattern}")


def cookie_values(*clients: Client) -> set[str]:
    return {morsel.value for c in clients for morsel in c.cookies.values() if len(morsel.value) >= 8}


def run_full_flow(deliver_outbox, make_user) -> dict:
    """Every secret-bearing action of the site, through the test client; returns the secrets used."""
    signup_password = "signup " + secrets.token_hex(8) + " passphrase"
    wrong_password = "wrong-" + secrets.token_hex(8)
    new_password = "reset-" + secrets.token_hex(8) + "-pass"
    found: dict[str, set[str]] = {"passwords": {signup_password, wrong_password, new_password, PASSWORD}}

    browser = Client(raise_request_exception=False)
    email = "grace@example.com"
    assert browser.post("/accounts/signup/", {"email": email, "password": signup_password}).status_code == 302
    verify_path = last_path(deliver_outbox(), r"https?://[^/\s]+(/accounts/verify/[^/\s]+/)")
    verify_token = verify_path.rstrip("/").rsplit("/", 1)[1]
    assert browser.get(verify_path).status_code == 302
    assert browser.post("/accounts/verify/confirm/").status_code == 302
    assert browser.post("/accounts/login/", {"email": email, "password": signup_password}).status_code == 302
    assert browser.get("/accounts/").status_code == 200

    stranger = Client(raise_request_exception=False)
    assert stranger.post("/accounts/login/", {"email": email, "password": wrong_password}).status_code in (
        400,
        401,
        403,
    )

    resetter = Client(raise_request_exception=False)
    assert resetter.post("/accounts/password/reset/", {"email": email}).status_code == 302
    reset_path = last_path(deliver_outbox(), r"https?://[^/\s]+(/accounts/password/reset/[^/\s]+/[^/\s]+/)")
    reset_token = reset_path.rstrip("/").rsplit("/", 1)[1]
    form_url = resetter.get(reset_path)["Location"]
    assert resetter.post(form_url, {"new_password1": new_password, "new_password2": new_password}).status_code == 302
    after_reset = Client(raise_request_exception=False)
    assert after_reset.post("/accounts/login/", {"email": email, "password": new_password}).status_code == 302

    mfa_user = make_user("totp@example.com")
    device = add_totp(mfa_user)
    mfa_browser = Client(raise_request_exception=False)
    first = mfa_browser.post("/accounts/login/", {"email": mfa_user.email, "password": PASSWORD})
    assert first.status_code == 302 and first["Location"] == "/accounts/mfa/"
    codes = {totp_code(device)}
    assert pass_mfa(mfa_browser, mfa_user).status_code == 302
    codes.add(totp_code(device))
    assert mfa_browser.get("/accounts/").status_code == 200

    junk = [secrets.token_urlsafe(24) for _ in range(4)]
    prober = Client(raise_request_exception=False)
    assert prober.get(f"/accounts/verify/{junk[0]}/").status_code == 400
    assert prober.post(f"/accounts/verify/{junk[1]}/").status_code == 405
    assert prober.get(f"/accounts/email/confirm/{junk[2]}/").status_code in (400, 404)
    assert prober.get(f"/accounts/password/reset/MQ/{junk[3]}/").status_code in (400, 404)
    assert prober.get(f"/accounts/verify/{verify_token}/").status_code in (302, 400)  # a reused link

    found.update(
        tokens={verify_token, reset_token, *junk},
        codes=codes,
        cookies=cookie_values(browser, stranger, resetter, after_reset, mfa_browser, prober),
    )
    return found


@pytest.mark.django_db
def test_logs_of_a_full_flow_hold_no_secrets(captured_logs, deliver_outbox, make_user):
    used = run_full_flow(deliver_outbox, make_user)
    lines = [line for line, _, _ in captured_logs.lines]
    assert any("/accounts/verify/[redacted]/" in line for line in lines), "the bad token links are logged, redacted"
    assert used["cookies"], "the flow should have set session cookies"
    for kind, values in used.items():
        for value in values:
            leaks = [line for line in lines if value in line]
            assert not leaks, f"a {kind[:-1]} appears in the logs: " + " | ".join(
                line[max(0, line.index(value) - 300) : line.index(value) + 100] for line in leaks[:3]
            )


@pytest.mark.django_db
def test_token_in_a_404_traceback_is_redacted(captured_logs, client):
    token = secrets.token_urlsafe(24)
    assert client.get(f"/accounts/verify/{token}/extra/").status_code == 404
    assert captured_logs.lines
    assert not [line for line, _, _ in captured_logs.lines if token in line]


def during_requests(capture: Capture, exclude_logger: str = "") -> list[dict]:
    return [
        json.loads(line)
        for line, in_request, record in capture.lines
        if in_request and not (exclude_logger and record.name == exclude_logger)
    ]


@pytest.mark.django_db
def test_log_lines_are_single_json_objects(captured_logs, client, user):
    client.get("/no/such/page/")
    client.get("/accounts/verify/some-token/")
    client.post("/accounts/login/", {"email": user.email, "password": "not the password"})
    assert captured_logs.lines
    for line, _in_request, _record in captured_logs.lines:
        assert "\n" not in line
        entry = json.loads(line)
        assert {"time", "level", "logger", "message"} <= set(entry)


@pytest.mark.django_db
def test_log_lines_from_inside_the_middleware_carry_the_request_id(captured_logs, client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    entries = during_requests(captured_logs, exclude_logger="django.request")
    assert entries, "rendering the 404 page logs template lookups at DEBUG"
    assert all(entry.get("request_id") == response["X-Request-ID"] for entry in entries), entries


@pytest.mark.django_db
@pytest.mark.parametrize("path, status", [("/accounts/verify/some-token/", 400), ("/no/such/page/", 404)])
def test_every_log_line_during_a_request_carries_the_request_id(captured_logs, client, path, status):
    response = client.get(path)
    assert response.status_code == status
    entries = during_requests(captured_logs)
    assert any(entry["logger"] == "django.request" for entry in entries)
    assert all(entry.get("request_id") == response["X-Request-ID"] for entry in entries), entries


@pytest.mark.django_db
def test_log_lines_name_the_signed_in_user_by_id_only(captured_logs, signed_in_client, user):
    assert signed_in_client.get("/accounts/no-such-page/").status_code == 404
    entries = during_requests(captured_logs, exclude_logger="django.request")
    assert entries
    assert all(entry.get("user_id") == str(user.pk) for entry in entries), entries
    assert not any(user.email in line for line, _, _ in captured_logs.lines)


def test_json_formatter_redacts_messages_and_exceptions():
    formatter = JsonFormatter()
    try:
        raise ValueError("bad link /accounts/verify/leaky-token/ with password=hunter2hunter2")
    except ValueError:
        args = ("/accounts/email/confirm/tok-abc/",)
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed %s", args, sys.exc_info())
    line = formatter.format(record)
    entry = json.loads(line)
    assert entry["message"] == "failed /accounts/email/confirm/[redacted]/"
    assert "leaky-token" not in line and "hunter2hunter2" not in line and "tok-abc" not in line
    assert "ValueError" in entry["exception"]
    assert "request_id" not in entry, "outside a request there is no request id"
