import pytest
from django.test import Client

from accounts.app_settings import app_settings as accounts_settings
from tests.users import PASSWORD

pytestmark = pytest.mark.django_db


def scrape(**extra) -> tuple[int, str]:
    response = Client(REMOTE_ADDR=extra.pop("remote", "127.0.0.1")).get("/metrics", **extra)
    return response.status_code, response.content.decode()


def sample(text: str, name: str, **labels) -> float:
    """The value of one sample in Prometheus text format (0 if absent)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(f"{name}{{{wanted}}} ") or (not labels and line.startswith(f"{name} ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_are_only_for_allowed_addresses_or_the_token(settings):
    assert scrape()[0] == 200
    assert scrape(remote="203.0.113.9")[0] == 403
    settings.METRICS_TOKEN = "scrape-token-0123456789"
    assert scrape(remote="203.0.113.9", HTTP_AUTHORIZATION="Bearer scrape-token-0123456789")[0] == 200
    assert scrape(remote="203.0.113.9", HTTP_AUTHORIZATION="Bearer wrong")[0] == 403
    assert scrape()[0] == 403, "with a token set, the token is required"


def test_sign_ins_requests_and_rate_limits_are_counted(client, user, settings):
    before = scrape()[1]
    client.post("/accounts/login/", {"email": user.email, "password": "wrong password here"})
    client.post("/accounts/login/", {"email": user.email, "password": PASSWORD})
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "reset-address": "1/h"}
    client.post("/accounts/password/reset/", {"email": "x@example.com"})
    client.post("/accounts/password/reset/", {"email": "x@example.com"})
    after = scrape()[1]

    def grew(name, **labels):
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("identity_signins_total", method="password", outcome="bad_credentials") == 1
    assert grew("identity_signins_total", method="password", outcome="success") == 1
    assert grew("identity_rate_limited_total", limit="reset-address") == 1, "the limit that tripped is named"
    assert grew("identity_rate_limited_total", limit="reset-ip") == 0
    assert grew("identity_http_requests_total", view="accounts:signin", method="POST", status="302") == 1
    assert "identity_http_request_duration_seconds_bucket" in after


def test_mail_outbox_depth_and_age_are_reported(client):
    client.post("/accounts/password/reset/", {"email": "someone@example.com"})
    text = scrape()[1]
    assert sample(text, "identity_mail_outbox_unsent") == 1
    assert sample(text, "identity_mail_outbox_oldest_unsent_seconds") >= 0


def test_mail_that_gave_up_is_failed_in_admin_state_and_metrics(client, settings):
    from accounts.models import OutboxMail

    client.post("/accounts/password/reset/", {"email": "someone@example.com"})
    OutboxMail.objects.update(attempts=accounts_settings.MAIL_MAX_ATTEMPTS)
    assert OutboxMail.objects.get().state == "failed"
    assert sample(scrape()[1], "identity_mail_outbox_failed") == 1


def test_a_scrape_through_a_trusted_proxy_on_the_same_host_is_not_local(settings):
    """nginx on the same host connects from 127.0.0.1 for everyone on the internet: an attacker's
    request through it must not count as a local scraper's."""
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    status, body = scrape(HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert status == 403 and "METRICS_TOKEN" in body
    assert scrape()[0] == 403, "without the header too: the proxy's own address is not a local scraper"
    settings.METRICS_TOKEN = "scrape-token-0123456789"
    assert scrape(HTTP_AUTHORIZATION="Bearer scrape-token-0123456789", HTTP_X_FORWARDED_FOR="203.0.113.9")[0] == 200
    settings.METRICS_TOKEN = ""
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    assert scrape()[0] == 200, "a local scraper that is not a proxy still needs no token"


def test_the_deploy_check_requires_a_metrics_token_behind_a_proxy(settings):
    from django.core.checks import run_checks

    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    settings.METRICS_TOKEN = ""
    assert "identity.E001" in {error.id for error in run_checks(include_deployment_checks=True)}
    settings.METRICS_TOKEN = "scrape-token-0123456789"
    assert "identity.E001" not in {error.id for error in run_checks(include_deployment_checks=True)}
