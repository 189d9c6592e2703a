"""Rate limits attacked against the real Redis: the limiter, sign-in throttling through the pages, the
100-failure cap, the client address behind proxies, the other limited forms, a Redis outage, admin."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import connections
from django.test import Client, RequestFactory

from accounts.backends import EmailBackend
from accounts.flows.password import complete_password_reset
from accounts.models import OutboxMail, SecurityEvent, User
from accounts.outbox import password_reset_url
from identity import ratelimit
from identity.net import client_ip, rate_limit_subject
from identity.ratelimit import Limit, RateLimited
from identity.redis import connection
from tests.users import PASSWORD, sign_in_admin

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
WRONG = "not the right password at all"
NEW_PASSWORD = "a freshly chosen passphrase"
HIGH = "1000/1000d"  # far above any test's attempts, and leaks too slowly for used() to drift
Event = SecurityEvent.Kind


def use_limits(settings, limits: dict[str, str], others: str | None = None) -> None:
    """Override some limits; `others` sets every limit not named (to take them out of the way)."""
    current = {name: others or spec for name, spec in settings.RATE_LIMITS.items()}
    settings.RATE_LIMITS = {**current, **limits}


def attempt(email: str, password: str, remote: str = "127.0.0.1", browser: Client | None = None, **headers):
    browser = browser or Client(raise_request_exception=False)
    return browser.post("/accounts/login/", {"email": email, "password": password}, REMOTE_ADDR=remote, **headers)


CODE_PAGE = "/accounts/login/code/"


def capped(response) -> bool:
    """Past the 100-failure cap a password alone does not sign in: the page asks for the mailed code."""
    return response.status_code == 302 and response["Location"] == CODE_PAGE


def events(kind: str, **filters) -> int:
    return SecurityEvent.objects.filter(kind=kind, **filters).count()


@pytest.fixture
def checked_passwords(monkeypatch) -> list[str]:
    """Every password that reached the hasher (EmailBackend.authenticate), from any thread."""
    checked: list[str] = []
    lock = threading.Lock()
    original = EmailBackend.authenticate

    def counting(self, request, *args, **kwargs):
        with lock:
            checked.append(kwargs.get("password", ""))
        return original(self, request, *args, **kwargs)

    monkeypatch.setattr(EmailBackend, "authenticate", counting)
    return checked


# --- The limiter ---------------------------------------------------------------------------------


def test_hit_passes_exactly_n_times_then_refuses_without_consuming(settings):
    use_limits(settings, {"signup-ip": "3/15m"})
    counter = ("signup-ip", "198.51.100.7")
    for _ in range(3):
        ratelimit.hit(counter)
    waits = []
    for _ in range(5):
        with pytest.raises(RateLimited) as refused:
            ratelimit.hit(counter)
        waits.append(refused.value.retry_after)
    assert refused.value.limits == ("signup-ip",)
    # One attempt is due every 15m/3 = 300 s; hammering while blocked never pushes that further out.
    assert all(290 <= wait <= 300 for wait in waits), waits
    assert waits == sorted(waits, reverse=True)
    assert ratelimit.used(counter) == 3
    ratelimit.hit(("signup-ip", "198.51.100.8"))  # another subject has its own counter


def test_a_refused_hit_consumes_none_of_its_counters(settings):
    use_limits(settings, {"signup-ip": "1/h", "signup-address": "5/h"})
    tight, loose = ("signup-ip", "198.51.100.7"), ("signup-address", "ada@example.com")
    ratelimit.hit(tight, loose)
    for _ in range(3):
        with pytest.raises(RateLimited):
            ratelimit.hit(tight, loose)
    assert ratelimit.used(loose) == 1


def test_check_never_consumes(settings):
    use_limits(settings, {"signup-ip": "2/15m"})
    counter = ("signup-ip", "198.51.100.7")
    for _ in range(10):
        ratelimit.check(counter)
    assert ratelimit.used(counter) == 0
    ratelimit.hit(counter)
    ratelimit.hit(counter)
    for _ in range(3):
        with pytest.raises(RateLimited) as refused:
            ratelimit.check(counter)
    assert refused.value.retry_after > 0
    assert ratelimit.used(counter) == 2


def test_refund_gives_one_back_and_never_banks_credit(settings):
    use_limits(settings, {"signup-ip": "3/15m"})
    counter = ("signup-ip", "198.51.100.7")
    for _ in range(5):
        ratelimit.refund(counter)  # refunds on an empty counter must not buy extra attempts later
    for _ in range(3):
        ratelimit.hit(counter)
    with pytest.raises(RateLimited):
        ratelimit.hit(counter)
    ratelimit.refund(counter)
    assert ratelimit.used(counter) == 2
    ratelimit.hit(counter)
    with pytest.raises(RateLimited):
        ratelimit.hit(counter)


def test_clear_and_clear_all_forget(settings):
    use_limits(settings, {"signin-ip-account": "1/15m", "signup-ip": "1/15m"})
    first = ("signin-ip-account", ratelimit.account_subject("ada@example.com", "198.51.100.1"))
    second = ("signin-ip-account", ratelimit.account_subject("ada@example.com", "198.51.100.2"))
    other_account = ("signin-ip-account", ratelimit.account_subject("bob@example.com", "198.51.100.1"))
    plain = ("signup-ip", "198.51.100.1")
    for counter in (first, second, other_account, plain):
        ratelimit.hit(counter)
        with pytest.raises(RateLimited):
            ratelimit.hit(counter)

    ratelimit.clear(plain)
    ratelimit.hit(plain)
    ratelimit.clear(first)
    ratelimit.hit(first)
    with pytest.raises(RateLimited):
        ratelimit.hit(second)  # clear() forgets only the counter it names

    ratelimit.clear_all("signin-ip-account", subject="ada@example.com")
    ratelimit.hit(first)
    ratelimit.hit(second)
    with pytest.raises(RateLimited):
        ratelimit.hit(other_account)


def test_forgive_refunds_the_first_counter_and_clears_the_others(settings):
    use_limits(settings, {"signin-ip": "3/15m", "signin-account": "3/15m", "signin-account-cap": "3/15m"})
    ip, account, cap = (
        ("signin-ip", "198.51.100.7"),
        ("signin-account", "ada@example.com"),
        ("signin-account-cap", "ada@example.com"),
    )
    for _ in range(2):
        ratelimit.hit(ip, account, cap)

    ratelimit.forgive(ip, account, cap)

    assert [ratelimit.used(c) for c in (ip, account, cap)] == [1, 0, 0]


def test_after_one_interval_exactly_one_more_attempt_is_allowed(settings):
    """A progressive delay, not a lock-out; and attempts made while blocked do not extend the wait."""
    use_limits(settings, {"signup-ip": "2/2s"})  # one attempt every second after a burst of two
    counter = ("signup-ip", "198.51.100.7")
    ratelimit.hit(counter)
    ratelimit.hit(counter)
    for _ in range(10):
        with pytest.raises(RateLimited) as refused:
            ratelimit.hit(counter)
        assert refused.value.retry_after == 1
    time.sleep(1.2)
    ratelimit.hit(counter)
    with pytest.raises(RateLimited):
        ratelimit.hit(counter)


def test_redis_keys_and_fields_hold_no_address_or_ip(client, make_user):
    make_user("secret.person@example.org", email_verified=False)
    attempt("Secret.Person@Example.org", WRONG, remote="203.0.113.77")
    attempt("secret.person@example.org", WRONG, remote="2001:db8:77:1::5")
    signup = {"email": "signup.someone@example.org", "password": NEW_PASSWORD}
    client.post("/accounts/signup/", signup, REMOTE_ADDR="203.0.113.78")
    client.post("/accounts/password/reset/", {"email": "secret.person@example.org"}, REMOTE_ADDR="203.0.113.79")
    client.post("/accounts/verify/resend/", {"email": "secret.person@example.org"}, REMOTE_ADDR="203.0.113.80")

    redis = connection()
    keys = sorted(key.decode() for key in redis.keys("rl:*"))
    assert {key.split(":")[1] for key in keys} == {
        "signin-ip",
        "signin-account",
        "signin-ip-account",
        "signin-account-cap",
        "signup-ip",
        "signup-address",
        "reset-ip",
        "reset-address",
        "verify-resend-ip",
        "verify-resend-address",
    }
    for key in keys:
        assert re.fullmatch(r"rl:[a-z-]+:\{[0-9a-f]{24}\}", key), key
        for field in redis.hkeys(key):
            assert re.fullmatch(r"-|[0-9a-f]{24}", field.decode()), (key, field)


def test_every_call_is_one_round_trip(settings, redis_writes):
    use_limits(settings, {"signin-account": "2/15m"})
    counters = (
        ("signin-ip", "198.51.100.7"),
        ("signin-account", "ada@example.com"),
        ("signin-ip-account", ratelimit.account_subject("ada@example.com", "198.51.100.7")),
        ("signin-account-cap", "ada@example.com"),
    )
    ratelimit.check(*counters)  # loads the script into Redis if it was not there yet

    def round_trips(call, *args, **kwargs) -> list[list[str]]:
        redis_writes.clear()
        try:
            call(*args, **kwargs)
        except RateLimited:
            pass
        return list(redis_writes)

    assert round_trips(ratelimit.check, *counters) == [["EVALSHA"]]
    assert round_trips(ratelimit.hit, *counters) == [["EVALSHA"]]
    assert round_trips(ratelimit.refund, *counters) == [["EVALSHA"]]
    assert round_trips(ratelimit.hit, *counters) == [["EVALSHA"]]
    assert round_trips(ratelimit.hit, *counters) == [["EVALSHA"]]
    assert round_trips(ratelimit.hit, *counters) == [["EVALSHA"]]  # refused, still one call
    assert round_trips(ratelimit.blocked_for, *counters) == [["EVALSHA"]]
    assert round_trips(ratelimit.clear, *counters) == [["EVALSHA"]]
    assert round_trips(ratelimit.forgive, *counters) == [["EVALSHA"]]
    assert round_trips(ratelimit.used, counters[0]) == [["EVALSHA"]]  # Redis' clock, in the counter's node
    names = ("signin-account", "signin-ip-account")
    assert round_trips(ratelimit.clear_all, *names, subject="ada@example.com") == [["DEL"]]


def test_a_right_password_costs_two_limiter_calls(user, redis_writes):
    """One to count the attempt, one to give it back and forgive the account's failures."""
    attempt(user.email, WRONG)  # warm up (script load, session engine)
    redis_writes.clear()
    assert attempt(user.email, PASSWORD).status_code == 302
    assert sum(write.count("EVALSHA") + write.count("EVAL") for write in redis_writes) == 2


def test_a_refused_password_costs_one_limiter_call(user, redis_writes):
    attempt(user.email, WRONG)  # warm up (script load, session engine)
    redis_writes.clear()
    assert attempt(user.email, WRONG).status_code == 400
    assert sum(write.count("EVALSHA") + write.count("EVAL") for write in redis_writes) == 1


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("10/15m", Limit(10, 900)),
        ("100/100y", Limit(100, 100 * 365 * 86400)),
        ("3/h", Limit(3, 3600)),
        ("5/s", Limit(5, 1)),
        (" 7 / 2d ", Limit(7, 2 * 86400)),
    ],
)
def test_limit_parse_accepts(spec, expected):
    assert Limit.parse(spec) == expected


@pytest.mark.parametrize(
    "spec", ["", "abc", "10", "10/", "/m", "10/15x", "10/15", "-1/h", "1.5/h", "10/m/h", "ten/h", "10/1.5h", "10 per h"]
)
def test_limit_parse_rejects_garbage(spec):
    with pytest.raises(ValueError):
        Limit.parse(spec)


@pytest.mark.parametrize("spec", ["0/h", "10/0m"])
def test_limit_parse_rejects_zero(spec):
    """'0/h' would divide by zero on every request using it; '10/0m' would be no limit at all."""
    with pytest.raises(ValueError):
        Limit.parse(spec)


def load_settings(**variables: str) -> subprocess.CompletedProcess:
    """The settings module loaded fresh, the way a deployment starts, with these environment variables."""
    ours = ("DJANGO_", "SECURE_", "RATE_LIMITS", "TRUSTED_PROXIES")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env.update(DJANGO_SETTINGS_MODULE="identity.settings", DJANGO_SECRET_KEY="x" * 50, **variables)
    probe = "import json; from django.conf import settings; print(json.dumps(settings.RATE_LIMITS))"
    return subprocess.run([sys.executable, "-c", probe], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_rate_limits_can_be_overridden_from_the_environment():
    import json

    result = load_settings(RATE_LIMITS=" signin-account = 5/15m , signup-ip=20/h")
    assert result.returncode == 0, result.stderr
    limits = json.loads(result.stdout)
    assert limits["signin-account"] == "5/15m" and limits["signup-ip"] == "20/h"
    assert limits["signin-account-cap"] == "100/100y"


# An unknown or malformed limit, or a proxy that is no address, is a system check's to refuse (the web
# process does not start): tests/identity/test_settings.py.


# --- Sign-in throttling through the pages -----------------------------------------------------------


def test_past_the_limit_even_the_right_password_gets_429_with_retry_after(settings, user):
    use_limits(settings, {"signin-ip-account": "3/15m"})
    browser = Client(raise_request_exception=False)
    for _ in range(3):
        assert attempt(user.email, WRONG, browser=browser).status_code == 400
    refused = attempt(user.email, PASSWORD, browser=browser)
    assert refused.status_code == 429
    assert 290 <= int(refused["Retry-After"]) <= 300
    page = refused.content.decode()
    assert "Too many attempts" in page and "please wait about 5 minutes before trying again" in page
    again = attempt(user.email, PASSWORD, browser=browser)
    assert again.status_code == 429
    assert int(again["Retry-After"]) <= int(refused["Retry-After"])  # a blocked attempt does not extend the wait
    assert browser.get("/accounts/").status_code == 302  # not signed in
    assert events(Event.SIGNIN_FAILED, user=user) == 3
    assert events(Event.SIGNIN_THROTTLED, user=user) == 2
    assert events(Event.SIGNIN_SUCCEEDED) == 0
    # The limit is per address and account: the owner elsewhere is not locked out by this attacker.
    assert attempt(user.email, PASSWORD, remote="198.51.100.9").status_code == 302


def test_unknown_addresses_are_throttled_exactly_like_real_ones(settings, user):
    use_limits(settings, {"signin-ip-account": "3/15m"})

    def shape(response, email: str) -> str:
        body = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode())
        return body.replace(email, "EMAIL")

    answers = {}
    for email, remote in ((user.email, "198.51.100.1"), ("nobody@example.com", "198.51.100.2")):
        responses = [attempt(email, WRONG, remote=remote) for _ in range(5)]
        answers[email] = (
            [r.status_code for r in responses],
            [shape(r, email) for r in responses],
            [int(r["Retry-After"]) for r in responses if r.has_header("Retry-After")],
        )
    known, unknown = answers[user.email], answers["nobody@example.com"]
    assert known[0] == unknown[0] == [400, 400, 400, 429, 429]
    assert known[1] == unknown[1]
    assert len(known[2]) == len(unknown[2]) == 2
    assert all(290 <= wait <= 300 for wait in known[2] + unknown[2])


@pytest.mark.parametrize("limit", ["signin-ip-account", "signin-account", "signin-account-cap"])
def test_variants_of_an_address_share_one_counter(settings, user, limit):
    use_limits(settings, {limit: "3/15m"}, others=HIGH)
    for variant in ("ADA@example.com", " ada@EXAMPLE.com ", "ada@ＥＸＡＭＰＬＥ.com"):  # the last: full-width
        assert attempt(variant, WRONG).status_code == 400
    if limit == "signin-account-cap":  # past the cap the password alone asks for the mailed code
        assert capped(attempt("ada@example.com", PASSWORD)) and capped(attempt("Ada@Example.Com", PASSWORD))
        return
    assert attempt("ada@example.com", PASSWORD).status_code == 429
    assert attempt("Ada@Example.Com", PASSWORD).status_code == 429


def test_success_forgets_the_account_failures_but_not_the_ip_failures(settings, make_user):
    use_limits(settings, {"signin-ip": "4/15m"}, others=HIGH)
    ada, bob = make_user("ada@example.com"), make_user("bob@example.com")
    for _ in range(3):
        assert attempt(ada.email, WRONG).status_code == 400
    account = ("signin-account", "ada@example.com")
    assert ratelimit.used(account) == 3 and ratelimit.used(("signin-ip", "127.0.0.1")) == 3

    assert attempt(ada.email, PASSWORD).status_code == 302
    assert ratelimit.used(account) == 0
    assert ratelimit.used(("signin-account-cap", "ada@example.com")) == 0
    assert ratelimit.used(("signin-ip-account", ratelimit.account_subject("ada@example.com", "127.0.0.1"))) == 0
    assert ratelimit.used(("signin-ip", "127.0.0.1")) == 3  # the right password is not counted, nor forgives

    assert attempt(bob.email, WRONG).status_code == 400  # the fourth failure from this address
    assert attempt(bob.email, PASSWORD).status_code == 429


@pytest.mark.django_db(transaction=True)
def test_parallel_guesses_never_get_more_password_checks_than_the_limit(settings, make_user, checked_passwords):
    use_limits(settings, {"signin-account": "5/15m"}, others=HIGH)
    victim = make_user()
    guessers = 50
    barrier = threading.Barrier(guessers)
    statuses: list[int | None] = [None] * guessers

    def guess(i: int) -> None:
        try:
            browser = Client(raise_request_exception=False)
            barrier.wait(timeout=30)
            response = attempt(victim.email, f"guess number {i:03d}", remote=f"10.7.0.{i}", browser=browser)
            statuses[i] = response.status_code
        finally:
            connections.close_all()

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(guessers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert sorted(statuses) == [400] * 5 + [429] * 45, statuses
    assert len(checked_passwords) == 5
    assert events(Event.SIGNIN_FAILED, user=victim) == 5
    assert events(Event.SIGNIN_THROTTLED, user=victim) == 45


# --- The cap of 100 consecutive failures (NIST SP 800-63B) ------------------------------------------


def reset_password_through_the_pages(user: User, new_password: str) -> None:
    browser = Client(raise_request_exception=False)
    link = password_reset_url(user).removeprefix("http://testserver")
    form = browser.get(link, follow=True)
    assert form.status_code == 200, form.content.decode()[:500]
    done = browser.post(form.redirect_chain[-1][0], {"new_password1": new_password, "new_password2": new_password})
    assert done.status_code == 302, done.content.decode()[:2000]


def test_a_hundred_failures_stop_the_password_alone_until_a_reset(settings, user):
    """Past the cap the password alone no longer signs in (issue 13 section 7: it then also takes a
    mailed code, tests/accounts/test_signin_cap.py); a reset still lifts the cap."""
    use_limits(settings, {"signin-ip": HIGH, "signin-account": HIGH, "signin-ip-account": HIGH})
    for i in range(100):
        response = attempt(user.email, WRONG, remote=f"10.0.{i // 250}.{i % 250}")
        assert response.status_code == 400, (i, response.status_code)
    refused = attempt(user.email, PASSWORD, remote="10.9.9.9")
    assert capped(refused)
    assert ratelimit.used(("signin-account-cap", "ada@example.com")) == 100
    # An unknown address gets the same page: the cap reveals nothing either.
    for _ in range(100):
        ratelimit.hit(("signin-account-cap", "nobody@example.com"))
    assert capped(attempt("nobody@example.com", WRONG, remote="10.9.9.9"))

    reset_password_through_the_pages(user, NEW_PASSWORD)
    assert ratelimit.used(("signin-account-cap", "ada@example.com")) == 0
    assert attempt(user.email, NEW_PASSWORD, remote="10.9.9.9").status_code == 302


def test_a_success_before_the_hundredth_failure_starts_the_count_over(settings, user):
    use_limits(settings, {"signin-ip": HIGH, "signin-account": HIGH, "signin-ip-account": HIGH})
    cap = ("signin-account-cap", "ada@example.com")
    for _ in range(99):
        ratelimit.hit(cap)
    assert attempt(user.email, PASSWORD).status_code == 302  # the hundredth attempt may still succeed
    assert ratelimit.used(cap) == 0
    for _ in range(99):
        ratelimit.hit(cap)
    assert attempt(user.email, WRONG).status_code == 400  # 100 failures since that success: still refused normally
    assert capped(attempt(user.email, PASSWORD))


def test_asking_for_a_reset_or_signing_up_again_does_not_lift_the_cap(settings, client, user):
    use_limits(settings, {"signin-account-cap": "100/100y"}, others=HIGH)
    for _ in range(100):
        ratelimit.hit(("signin-account-cap", "ada@example.com"))
    assert client.post("/accounts/signup/", {"email": "ADA@example.com", "password": NEW_PASSWORD}).status_code == 302
    assert client.post("/accounts/password/reset/", {"email": "ada@example.com"}).status_code == 302
    assert client.post("/accounts/verify/resend/", {"email": "ada@example.com"}).status_code == 302
    assert capped(attempt(user.email, PASSWORD))
    assert ratelimit.used(("signin-account-cap", "ada@example.com")) == 100


def test_the_cap_is_lifted_by_the_reset_flow_function(user):
    for _ in range(100):
        ratelimit.hit(("signin-account-cap", "ada@example.com"))
    assert capped(attempt(user.email, PASSWORD))
    complete_password_reset(RequestFactory().post("/accounts/password/reset/"), user, NEW_PASSWORD)
    assert attempt(user.email, NEW_PASSWORD).status_code == 302


# --- The client's address -------------------------------------------------------------------------


def test_a_spoofed_forwarded_for_does_not_spread_attempts_without_trusted_proxies(settings):
    settings.TRUSTED_PROXIES = []
    use_limits(settings, {"signin-ip": "3/15m"}, others=HIGH)
    spoofed = [f"198.51.100.{i}, 10.0.0.{i}" for i in range(5)]
    statuses = [
        attempt(f"p{i}@example.com", WRONG, remote="203.0.113.5", HTTP_X_FORWARDED_FOR=header).status_code
        for i, header in enumerate(spoofed)
    ]
    assert statuses == [400, 400, 400, 429, 429]
    assert set(SecurityEvent.objects.values_list("ip", flat=True)) == {"203.0.113.5"}


def test_behind_a_trusted_proxy_the_rightmost_untrusted_hop_is_counted(settings):
    use_limits(settings, {"signin-ip": "3/15m"}, others=HIGH)
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    assert attempt("a@example.com", WRONG, HTTP_X_FORWARDED_FOR="1.1.1.1, 2.2.2.2").status_code == 400
    assert [ratelimit.used(("signin-ip", ip)) for ip in ("2.2.2.2", "1.1.1.1", "127.0.0.1")] == [1, 0, 0]
    assert SecurityEvent.objects.get().ip == "2.2.2.2"

    settings.TRUSTED_PROXIES = ["127.0.0.1", "2.2.2.2"]
    assert attempt("a@example.com", WRONG, HTTP_X_FORWARDED_FOR="1.1.1.1, 2.2.2.2").status_code == 400
    assert [ratelimit.used(("signin-ip", ip)) for ip in ("2.2.2.2", "1.1.1.1", "127.0.0.1")] == [1, 1, 0]

    # A client behind the proxy rotating what it writes on the left is still one client...
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    statuses = [
        attempt(f"p{i}@example.com", WRONG, HTTP_X_FORWARDED_FOR=f"10.{i}.{i}.{i}, 5.6.7.8").status_code
        for i in range(4)
    ]
    assert statuses == [400, 400, 400, 429]
    # ...and other clients behind the same proxy keep their own counters.
    assert attempt("p9@example.com", WRONG, HTTP_X_FORWARDED_FOR="9.9.9.9").status_code == 400


@pytest.mark.parametrize("trusted", [[], ["127.0.0.1"]])
@pytest.mark.parametrize(
    "header",
    [
        "",
        ",",
        " , ,",
        "garbage",
        "1.1.1.1:8080",
        "999.1.1.1",
        "1.1.1.1, nonsense",
        "[::1",
        "::1]",
        "fe80::1%eth0",
        "é, ü",
        "1.1.1.1,,,, ",
        "unknown, 2.2.2.2",
        "\x00",
        ",".join(["1.2.3.4"] * 2000),
    ],
)
def test_malformed_forwarded_for_does_not_crash(settings, trusted, header):
    settings.TRUSTED_PROXIES = trusted
    assert attempt("a@example.com", WRONG, HTTP_X_FORWARDED_FOR=header).status_code == 400


@pytest.mark.parametrize(
    ("trusted", "remote", "forwarded", "expected"),
    [
        ([], "203.0.113.9", "1.1.1.1", "203.0.113.9"),
        ([], "203.0.113.9", None, "203.0.113.9"),
        (["127.0.0.1"], "127.0.0.1", "1.1.1.1, 2.2.2.2", "2.2.2.2"),
        (["127.0.0.1", "2.2.2.2"], "127.0.0.1", "1.1.1.1, 2.2.2.2", "1.1.1.1"),
        (["127.0.0.1", "1.1.1.1", "2.2.2.2"], "127.0.0.1", "1.1.1.1, 2.2.2.2", "1.1.1.1"),
        (["10.0.0.0/8"], "10.1.2.3", "9.9.9.9, 10.0.0.5", "9.9.9.9"),
        (["10.0.0.0/8"], "203.0.113.9", "10.0.0.5", "203.0.113.9"),  # the peer itself is not trusted
        (["127.0.0.1"], "127.0.0.1", None, "127.0.0.1"),
        (["127.0.0.1"], "127.0.0.1", "", "127.0.0.1"),
        (["127.0.0.1"], "127.0.0.1", "garbage, 2.2.2.2", "2.2.2.2"),
        (["127.0.0.1"], "127.0.0.1", "1.1.1.1, garbage", "127.0.0.1"),  # stop at the last vouched-for hop
        (["127.0.0.1", "2.2.2.2"], "127.0.0.1", "1.1.1.1:80, 2.2.2.2", "2.2.2.2"),
        (["127.0.0.1"], "127.0.0.1", " [2001:db8::1] ", "2001:db8::1"),
        (["::1"], "::1", "2001:db8::7", "2001:db8::7"),
        ([], "not an address", "1.1.1.1", "0.0.0.0"),  # noqa: S104 (not a bind)
    ],
)
def test_client_ip(settings, trusted, remote, forwarded, expected):
    settings.TRUSTED_PROXIES = trusted
    headers = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded
    assert client_ip(RequestFactory().get("/", **headers)) == expected


@pytest.mark.parametrize(
    ("remote", "forwarded"), [("::ffff:10.0.0.5", "1.1.1.1"), ("10.0.0.5", "1.1.1.1, ::ffff:10.0.0.6")]
)
def test_ipv4_mapped_proxy_addresses_are_trusted(settings, remote, forwarded):
    """A dual-stack socket reports the proxy 10.0.0.5 as ::ffff:10.0.0.5; not trusting it would count every
    client as the proxy, one per-IP sign-in counter for the whole site."""
    settings.TRUSTED_PROXIES = ["10.0.0.5", "10.0.0.6"]
    assert client_ip(RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)) == "1.1.1.1"


def test_ipv6_addresses_are_counted_per_64():
    assert rate_limit_subject("2001:db8:1:2::1") == rate_limit_subject("2001:db8:1:2:ffff:ffff:ffff:fffe")
    assert rate_limit_subject("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert rate_limit_subject("2001:db8:1:3::1") != rate_limit_subject("2001:db8:1:2::1")
    assert rate_limit_subject("::ffff:203.0.113.5") == rate_limit_subject("203.0.113.5") == "203.0.113.5"
    assert rate_limit_subject("203.0.113.5") != rate_limit_subject("203.0.113.6")


def test_ipv6_hosts_in_one_64_share_the_sign_in_counter(settings):
    use_limits(settings, {"signin-ip": "3/15m"}, others=HIGH)
    statuses = [
        attempt(f"p{i}@example.com", WRONG, remote=f"2001:db8:aa:bb:{i:x}::{i + 1:x}").status_code for i in range(4)
    ]
    assert statuses == [400, 400, 400, 429]
    assert attempt("p9@example.com", WRONG, remote="2001:db8:aa:bc::1").status_code == 400  # the next /64


# --- Sign-up, verification re-send and reset requests ------------------------------------------------

FORMS = {
    "signup": ("/accounts/signup/", "signup-ip", "signup-address"),
    "verify-resend": ("/accounts/verify/resend/", "verify-resend-ip", "verify-resend-address"),
    "reset": ("/accounts/password/reset/", "reset-ip", "reset-address"),
}


def submit(form: str, email: str, remote: str):
    url = FORMS[form][0]
    data = {"email": email, "password": NEW_PASSWORD} if form == "signup" else {"email": email}
    return Client(raise_request_exception=False).post(url, data, REMOTE_ADDR=remote)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("existing", [True, False], ids=["existing", "unknown"])
def test_per_address_limit_holds_across_addresses_and_variants(settings, make_user, form, existing):
    _, _, per_address = FORMS[form]
    use_limits(settings, {per_address: "2/h"}, others=HIGH)
    if existing:
        make_user("ada@example.com", email_verified=False)
    variants = ["ada@example.com", "ADA@example.com", " ada@EXAMPLE.com", "Ada@example.com"]
    responses = [submit(form, email, remote=f"198.51.100.{i}") for i, email in enumerate(variants)]
    assert [r.status_code for r in responses] == [302, 302, 429, 429]
    for refused in responses[2:]:
        assert 0 < int(refused["Retry-After"]) <= 1800
        assert "Too many attempts" in refused.content.decode()
    assert OutboxMail.objects.count() <= 2  # nobody's inbox is flooded


@pytest.mark.parametrize("form", FORMS)
def test_per_ip_limit_holds_for_existing_and_unknown_addresses(settings, make_user, form):
    _, per_ip, _ = FORMS[form]
    use_limits(settings, {per_ip: "3/h"}, others=HIGH)
    make_user("p1@example.com", email_verified=False)
    make_user("p3@example.com", email_verified=False)
    statuses = [submit(form, f"p{i}@example.com", remote="203.0.113.5").status_code for i in range(6)]
    assert statuses == [302, 302, 302, 429, 429, 429]
    assert submit(form, "p9@example.com", remote="203.0.113.6").status_code == 302


# --- Redis down: closed, not open ---------------------------------------------------------------------


@pytest.fixture
def redis_down(settings):
    original = settings.REDIS_URL
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    connection.cache_clear()
    yield
    settings.REDIS_URL = original
    connection.cache_clear()


@pytest.mark.parametrize("password", [PASSWORD, WRONG])
def test_redis_down_refuses_signin_with_503(user, redis_down, checked_passwords, password):
    browser = Client(raise_request_exception=False)
    response = attempt(user.email, password, browser=browser)
    assert response.status_code == 503
    assert "Temporarily unavailable" in response.content.decode()
    assert checked_passwords == []  # not one guess reaches the hasher uncounted
    user.refresh_from_db()
    assert user.last_login is None
    assert events(Event.SIGNIN_SUCCEEDED) == events(Event.SIGNIN_FAILED) == 0


@pytest.mark.parametrize("form", FORMS)
def test_redis_down_refuses_the_other_limited_forms_with_503(make_user, redis_down, form):
    make_user("ada@example.com", email_verified=False)
    assert submit(form, "ada@example.com", remote="203.0.113.5").status_code == 503
    assert submit(form, "new@example.com", remote="203.0.113.5").status_code == 503
    assert OutboxMail.objects.count() == 0
    assert User.objects.count() == 1


# --- Admin ------------------------------------------------------------------------------------------


@pytest.fixture
def admin_client(make_admin) -> Client:
    return sign_in_admin(make_admin(), REMOTE_ADDR="192.0.2.1")


def test_admin_sees_the_throttling_and_clears_it(settings, admin_client, user):
    use_limits(settings, {"signin-ip-account": "3/15m"})
    for _ in range(3):
        assert attempt(user.email, WRONG, remote="203.0.113.9").status_code == 400
    assert attempt(user.email, PASSWORD, remote="203.0.113.9").status_code == 429

    page = admin_client.get(f"/admin/accounts/user/{user.pk}/change/").content.decode()
    assert "Sign-in throttling" in page and "3 failed password attempts in a row" in page

    response = admin_client.post("/admin/accounts/user/", {"action": "clear_throttling", "_selected_action": [user.pk]})
    assert response.status_code == 302
    cleared = SecurityEvent.objects.get(kind=Event.ADMIN_THROTTLE_CLEARED)
    assert cleared.user == user and cleared.actor == User.objects.get_by_email("root@example.com")
    assert ratelimit.used(("signin-account-cap", "ada@example.com")) == 0
    page = admin_client.get(f"/admin/accounts/user/{user.pk}/change/").content.decode()
    assert "failed password attempts in a row" not in page
    assert attempt(user.email, PASSWORD, remote="203.0.113.9").status_code == 302


def test_admin_clears_the_hundred_failure_cap(admin_client, user):
    for _ in range(100):
        ratelimit.hit(("signin-account-cap", "ada@example.com"))
    assert capped(attempt(user.email, PASSWORD))
    page = admin_client.get(f"/admin/accounts/user/{user.pk}/change/").content.decode()
    assert "100 failed password attempts in a row" in page
    admin_client.post("/admin/accounts/user/", {"action": "clear_throttling", "_selected_action": [user.pk]})
    assert attempt(user.email, PASSWORD).status_code == 302


def test_only_staff_can_clear_throttling(signed_in_client, make_user):
    victim = make_user("victim@example.com")
    for _ in range(100):
        ratelimit.hit(("signin-account-cap", "victim@example.com"))
    action = {"action": "clear_throttling", "_selected_action": [victim.pk]}
    response = signed_in_client.post("/admin/accounts/user/", action)
    assert response.status_code == 302  # to the sign-in page; nothing done
    assert ratelimit.used(("signin-account-cap", "victim@example.com")) == 100
    assert events(Event.ADMIN_THROTTLE_CLEARED) == 0


# --- follow-ups from review ---------------------------------------------------------------------


def test_a_blocked_attacker_cannot_flood_the_audit_trail(user, settings):
    use_limits(settings, {"signin-ip-account": "1/15m", "audit-throttled": "3/h"}, others=HIGH)
    attempt(user.email, WRONG)
    for _ in range(10):
        assert attempt(user.email, WRONG).status_code == 429
    assert events(SecurityEvent.Kind.SIGNIN_THROTTLED) == 3


def test_failures_counted_against_an_address_before_it_was_verified_are_forgotten(make_user, settings, client):
    """Anyone may try any address, even before it has an account; the owner who proves the mailbox
    must not inherit a paused sign-in."""
    use_limits(settings, {"signin-account-cap": "3/100y"}, others=HIGH)
    for i in range(3):
        attempt("later@example.com", WRONG, remote=f"10.9.0.{i}")
    owner = make_user("later@example.com", email_verified=False)
    from accounts.tokens import make_verification_token

    client.get(f"/accounts/verify/{make_verification_token(owner)}/")
    client.post("/accounts/verify/confirm/")
    assert attempt("later@example.com", PASSWORD).status_code == 302


def test_counter_names_depend_on_the_site_secret(settings):
    """A Redis dump cannot be reversed by hashing every IPv4 address without the secret key."""
    first = ratelimit._location("signin-ip", "203.0.113.5")
    settings.SECRET_KEY = "another secret key for this test only, long enough to be real 0123"
    assert ratelimit._location("signin-ip", "203.0.113.5") != first


# --- Redis Cluster: every script call stays in one hash slot -----------------------------------------

# Every call site of the limiter's verbs in the code (path: how many). A new one must add the counters it
# passes to combinations_the_code_uses below, so that the test shows where they live on a cluster.
CALL_SITES = {
    "accounts/audit.py": 1,
    "accounts/flows/email.py": 1,
    "accounts/flows/lifecycle.py": 1,
    "accounts/flows/password.py": 1,
    "accounts/flows/security.py": 1,
    "accounts/flows/signin.py": 4,
    "accounts/flows/signin_code.py": 4,
    "accounts/flows/signup.py": 1,
    "accounts/flows/verification.py": 1,
    "accounts/views/signin.py": 1,
    "federation/flows.py": 1,
    "federation/verify.py": 1,
    "mfa/base.py": 4,
    "mfa/passkeys/views.py": 1,
    "oidc/views.py": 4,
    "saml/endpoints.py": 1,
    "scim/clients.py": 2,
}
VERBS = re.compile(r"\bratelimit\.(?:check|hit|refund|clear|forgive|blocked_for)\(")


def combinations_the_code_uses(user: User) -> dict[str, tuple[ratelimit.Counter, ...]]:
    """The counters each call site passes, built by the code's own helpers where it has them."""
    from types import SimpleNamespace

    from accounts.flows.signin import password_change_counters, password_counters
    from mfa.base import code_cap, code_caps, mfa_counters

    request = RequestFactory().post("/", REMOTE_ADDR="198.51.100.7")
    ip = rate_limit_subject(client_ip(request))
    pending = SimpleNamespace(id="a pending sign-in")
    email = user.email.lower()
    password = password_counters(request, user.email)
    request.session = SimpleNamespace(session_key="a session key")  # type: ignore[assignment]  # only its key is read
    return {
        "password change": password_change_counters(request, user.email),
        "password sign-in": password,
        "password past the cap": tuple(c for c in password if c[0] != "signin-account-cap"),
        "forgiven password": password,
        "admin's view of the throttling": (("signin-account", email), ("signin-account-cap", email)),
        "second factor": (*mfa_counters(pending, user), code_cap(user, "otp")),  # type: ignore[arg-type]
        "code caps": code_caps(user),
        "second factor proved": mfa_counters(pending, user),  # type: ignore[arg-type]
        "token endpoint": (("token-client", "an-app"), ("token-ip", ip)),
        "sign-up": (("signup-ip", ip), ("signup-address", email)),
        "reset": (("reset-ip", ip), ("reset-address", email)),
        "verification mail": (("verify-resend-ip", ip), ("verify-resend-address", email)),
        **{name: ((name, ip),) for name in ("authorize-ip", "federation-ip", "scim-token-ip", "passkey-ip")},
        **{name: ((name, ip),) for name in ("saml-ip", "signin-realm-ip", "audit-throttled")},
        "scim client": (("scim-client", "1"),),
        "warning mail": (("warning-mail", f"password:{user.pk}"),),
        "email change": (("email-change-account", str(user.pk)),),
        "sign-in code mail": (("signin-code-mail", str(user.pk)),),
        "sign-in code": (("mfa-pending", "a pending sign-in"),),
    }


def test_every_call_site_of_the_limiter_is_known():
    found = {}
    for path in sorted(ROOT.glob("**/*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith((".venv/", "tests/", "bench/")):
            continue
        count = len(VERBS.findall(path.read_text()))
        if count:
            found[relative] = count
    assert found == CALL_SITES


@pytest.mark.parametrize("mode", ["peek", "hit", "refund", "clear", "forgive"])
def test_on_a_cluster_every_script_call_keeps_its_keys_in_one_slot(user, mode):
    from redis.crc import key_slot

    for what, counters in combinations_the_code_uses(user).items():
        calls = ratelimit._calls(mode, counters, per_slot=True)
        assert sorted(p for call in calls for p in call.positions) == list(range(len(counters))), what
        for call in calls:
            assert len({key_slot(key.encode()) for key in call.keys}) == 1, (what, call.keys)
        assert len(ratelimit._calls(mode, counters, per_slot=False)) == 1, "one server: one call"


def test_an_accounts_counters_share_its_slot_and_an_address_has_its_own(user):
    """The layout, not only its soundness: a password attempt is two script runs on a cluster (the
    address's counter, and the account's three together), and forgiving it clears the account's counters
    in its own slot while the address's counter is refunded in the other."""
    counters = combinations_the_code_uses(user)["password sign-in"]
    calls = ratelimit._calls("hit", counters, per_slot=True)
    assert [[counters[p][0] for p in call.positions] for call in calls] == [
        ["signin-ip"],
        ["signin-account", "signin-ip-account", "signin-account-cap"],
    ]
    forgive = ratelimit._calls("forgive", counters, per_slot=True)
    assert [call.mode for call in forgive] == ["forgive", "clear"]
    second_factor = ratelimit._calls("hit", combinations_the_code_uses(user)["second factor"], per_slot=True)
    assert len(second_factor) == 3  # the pending sign-in, the account, the account's cap of this kind


def test_counters_stored_before_the_hash_tags_keep_counting_after_the_upgrade(settings):
    """The 100-failure cap must survive the change of key names: an upgrade must not hand an attacker
    100 more guesses on every capped account."""
    from django.core.management import call_command

    use_limits(settings, {"signin-account-cap": "3/100y", "signin-ip-account": "3/h"})
    cap = ("signin-account-cap", "ada@example.com")
    narrowed = ("signin-ip-account", ratelimit.account_subject("ada@example.com", "198.51.100.7"))
    for _ in range(3):
        ratelimit.hit(cap, narrowed)
    redis = connection()
    for counter in (cap, narrowed):
        tagged = ratelimit._location(*counter)[0]
        redis.rename(tagged, tagged.replace("{", "").replace("}", ""))  # as stored before
    ratelimit.hit(("signin-ip-account", ratelimit.account_subject("ada@example.com", "198.51.100.8")))  # since

    call_command("move_rate_limit_counters", stdout=open(os.devnull, "w"))

    with pytest.raises(RateLimited):
        ratelimit.hit(cap)
    assert [ratelimit.used(cap), ratelimit.used(narrowed)] == [3, 3]
    assert ratelimit.used(("signin-ip-account", ratelimit.account_subject("ada@example.com", "198.51.100.8"))) == 1
    assert redis.ttl(ratelimit._location(*cap)[0]) > 3600 * 24 * 365
    assert not [key for key in redis.scan_iter(match="rl:*") if b"{" not in key]
    assert ratelimit.move_untagged_counters() == 0, "nothing left to move: safe to run again"
