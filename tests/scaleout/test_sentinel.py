"""Redis high availability through Redis Sentinel, against real processes.

A master, a replica and three sentinels run on loopback under a real gunicorn and a real Celery worker
(the `Stack` of tests/stack.py). The master is SIGKILLed while people are signed in; once
the sentinels have promoted the replica, the same processes, never restarted, keep those people signed
in, sign new ones in, count failed sign-ins and deliver mail.

REDIS_URL names the first master on purpose: a site that ignored the sentinels would work until the
kill and answer 503 to everything after it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
import redis

from accounts.models import User
from identity.redis import kombu_sentinel_url, new_client, parse_sentinels
from tests.processes import free_port
from tests.stack import CSRF, ROOT, Stack, sign_in, wait_for
from tests.users import PASSWORD

SERVICE = "mymaster"
DB = 3  # not 0: REDIS_URL's database number must reach the master through the sentinels
WRONG = "not the password at all"


class SentinelStack(Stack):
    """The Stack, with its redis-server as the first master, a replica of it and three sentinels watching."""

    def __init__(self, tmp: Path, exits: ExitStack):
        super().__init__(tmp, exits)
        master = redis.Redis(port=self.redis.port)
        master.config_set("repl-diskless-sync-delay", 0)  # the replica syncs now, not in 5 s
        self.replica_port = free_port()
        self._spawn(
            "replica",
            [
                "redis-server",
                "--port",
                str(self.replica_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--dir",
                str(tmp),
                "--replicaof",
                "127.0.0.1",
                str(self.redis.port),
            ],
        )
        self.sentinel_ports = [free_port() for _ in range(3)]
        for port in self.sentinel_ports:
            conf = tmp / f"sentinel-{port}.conf"  # sentinels rewrite their own configuration file
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {tmp}\n"
                "sentinel resolve-hostnames no\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {self.redis.port} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} 1000\n"
                f"sentinel failover-timeout {SERVICE} 5000\n"
            )
            self._spawn("sentinel", ["redis-server", str(conf), "--sentinel"])
        wait_for(self._watching, 30, f"the replica and three sentinels\n{self.logs()}", interval=0.2)
        self.env.update(
            REDIS_SENTINELS=",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports),
            REDIS_SENTINEL_MASTER=SERVICE,
            CELERY_BROKER_URL="",  # derived from the sentinels (set, so tests/settings.py cannot default it)
            RATE_LIMITS="signin-ip-account=3/h",
        )

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis.port}/{DB}"

    def sentinel(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, socket_timeout=1, decode_responses=True)

    def _watching(self) -> bool:
        try:
            if redis.Redis(port=self.replica_port).info("replication")["master_link_status"] != "up":
                return False
            states = [self.sentinel(port).sentinel_master(SERVICE) for port in self.sentinel_ports]
        except redis.ConnectionError:
            return False
        return all(s["num-slaves"] == 1 and s["num-other-sentinels"] == 2 for s in states)  # type: ignore[index]  # a dict

    def master_ports(self) -> set[int]:
        """The master's port according to each sentinel."""
        addresses = [self.sentinel(port).sentinel_get_master_addr_by_name(SERVICE) for port in self.sentinel_ports]
        return {int(address[1]) for address in addresses}  # type: ignore[index]  # (host, port)


def post_form(web: Stack, path: str, fields: dict, cookies: dict) -> int:
    status, page, _ = web.request("GET", path, cookies=cookies)
    assert status == 200, (path, status, page[:500])
    return web.request("POST", path, {"csrfmiddlewaretoken": CSRF.search(page).group(1), **fields}, cookies)[0]


def security_page(web: Stack, cookies: dict) -> int:
    return web.request("GET", "/accounts/security/", cookies=cookies)[0]


@pytest.mark.django_db(transaction=True)
def test_a_failover_keeps_people_signed_in_and_the_site_working_without_a_restart(redis_server_binary, tmp_path):
    users = [User.objects.create_user(f"user{i}@example.com", PASSWORD, email_verified=True) for i in range(4)]
    with ExitStack() as exits:
        web = SentinelStack(tmp_path, exits)
        web.start_gunicorn()
        web.start_worker()
        signed_in = [sign_in(web, user.email) for user in users[:3]]
        assert [security_page(web, cookies) for cookies in signed_in * 2] == [200] * 6
        failures = {}  # one browser, so the counter is per address and account
        statuses = [
            post_form(web, "/accounts/login/", {"email": users[0].email, "password": WRONG}, failures) for _ in range(2)
        ]
        assert statuses == [400, 400]

        master = redis.Redis(port=web.redis.port)
        assert master.wait(1, 5000) == 1, "the replica has every write so far"
        web.redis.proc.send_signal(signal.SIGKILL)
        web.redis.proc.wait(5)

        # While the sentinels fail over, a page may say "temporarily unavailable", never anything worse.
        during = []
        deadline = time.monotonic() + 60
        while web.master_ports() != {web.replica_port}:
            assert time.monotonic() < deadline, f"no failover within 60 s\n{web.logs()}"
            during.append(security_page(web, signed_in[0]))
            time.sleep(0.1)
        assert set(during) <= {200, 503}, during

        # From here on, no 503: the same gunicorn and worker use the new master.
        assert [security_page(web, cookies) for cookies in signed_in * 2] == [200] * 6, "still signed in"
        newcomer = sign_in(web, users[3].email)
        assert security_page(web, newcomer) == 200
        statuses = [
            post_form(web, "/accounts/login/", {"email": users[0].email, "password": WRONG}, failures) for _ in range(2)
        ]
        assert statuses == [400, 429], "the two failures before the failover still count"

        assert post_form(web, "/accounts/password/reset/", {"email": users[1].email}, {}) == 302
        wait_for(lambda: web.sink.messages, 60, f"the reset mail through the new master\n{web.logs()}", interval=0.2)
        assert [message["To"] for message in web.sink.messages] == [users[1].email]

        status, body, _ = web.request("GET", "/readyz")
        assert status == 200, body
        assert json.loads(body)["checks"] == {
            "database": "ok",
            "redis": "ok",
            "broker": "ok",
            "signing_keys": "ok",
            "saml_certificate": "ok",
        }
        assert redis.Redis(port=web.replica_port, db=DB).dbsize() > 0, "sessions live in REDIS_URL's database"


def test_a_planned_failover_moves_writes_to_the_new_master(redis_server_binary, tmp_path, settings):
    """SENTINEL FAILOVER leaves the old master running, as a replica that refuses writes. The sentinels
    disconnect its clients; the pool replaces the dropped connection with one to the new master."""
    with ExitStack() as exits:
        web = SentinelStack(tmp_path, exits)
        settings.REDIS_URL = web.redis_url
        settings.REDIS_SENTINELS = parse_sentinels(web.env["REDIS_SENTINELS"])
        client = new_client(timeout=1)
        client.set("before", "1")  # leaves a connection to the first master in the pool
        sentinel = web.sentinel(web.sentinel_ports[0])
        # A sentinel answers NOGOODSLAVE until it has seen the replica report in (INFO every few seconds).
        wait_for(
            lambda: _failover_started(sentinel), 30, f"a sentinel to accept the failover\n{web.logs()}", interval=0.2
        )
        wait_for(lambda: web.master_ports() == {web.replica_port}, 30, f"the failover\n{web.logs()}", interval=0.1)
        wait_for(lambda: redis.Redis(port=web.redis.port).role()[0] == b"slave", 30, "the old master to be demoted")

        assert client.set("after", "1")
        assert redis.Redis(port=web.replica_port, db=DB).get("after") == b"1"
        client.close()


def _failover_started(sentinel) -> bool:
    try:
        return bool(sentinel.execute_command("SENTINEL", "FAILOVER", SERVICE))
    except redis.ResponseError as error:
        if "NOGOODSLAVE" in str(error):
            return False
        raise


SPIN = """local t = redis.call('TIME') local stop = t[1] * 1000000 + t[2] + ARGV[1] * 1000
repeat local n = redis.call('TIME') until n[1] * 1000000 + n[2] >= stop return 'late'"""


def test_a_reply_that_came_too_late_is_never_read_as_the_next_ones(redis_server_binary, tmp_path, settings):
    """redis-py's sentinel connection keeps a connection whose read timed out (redis/redis-py#4292)."""
    with ExitStack() as exits:
        web = SentinelStack(tmp_path, exits)
        settings.REDIS_URL = web.redis_url
        settings.REDIS_SENTINELS = parse_sentinels(web.env["REDIS_SENTINELS"])
        client = new_client(timeout=0.5)
        client.set("key", "value")
        with pytest.raises(redis.TimeoutError):
            client.eval(SPIN, 0, 800)  # Redis is busy for 0.8 s, then answers
        assert client.get("key") == b"value"
        client.close()


# --- The settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "sentinels"),
    [
        ("", []),
        ("10.0.0.1:26379, 10.0.0.2:26380,", [("10.0.0.1", 26379), ("10.0.0.2", 26380)]),
        ("sentinel-a,[::1]:26381", [("sentinel-a", 26379), ("::1", 26381)]),
    ],
)
def test_sentinel_addresses_are_parsed(value, sentinels):
    assert parse_sentinels(value) == sentinels


@pytest.mark.parametrize("value", ["10.0.0.1:0", "10.0.0.1:65536", "10.0.0.1:port", "a b:26379", "::1:26379", ":26379"])
def test_bad_sentinel_addresses_are_refused(value):
    with pytest.raises(ValueError, match="not a host:port address"):
        parse_sentinels(value)


def test_celery_goes_through_the_same_sentinels_with_the_same_credentials_and_database():
    url = kombu_sentinel_url("redis://:s%40cret@ignored:6379/4", [("10.0.0.1", 26379), ("::1", 26380)])
    assert url == "sentinel://:s%40cret@10.0.0.1:26379/4;sentinel://:s%40cret@[::1]:26380/4"


PROBE = (
    "import json; from django.conf import settings; "
    "print(json.dumps([settings.REDIS_SENTINELS, settings.CELERY_BROKER_URL, "
    "settings.CELERY_BROKER_TRANSPORT_OPTIONS]))"
)


def load_settings(**env: str) -> subprocess.CompletedProcess:
    """identity.settings read fresh, as a deployment would, without the test run's own broker URL."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "REDIS_", "CELERY_"))}
    clean.update(env, DJANGO_SETTINGS_MODULE="identity.settings", DJANGO_SECRET_KEY="x" * 50)
    return subprocess.run([sys.executable, "-c", PROBE], env=clean, cwd=ROOT, capture_output=True, text=True)


def test_settings_derive_the_celery_broker_from_the_sentinels():
    result = load_settings(
        REDIS_SENTINELS="10.0.0.1:26379,10.0.0.2:26379",
        REDIS_URL="redis://x:6379/2",
        REDIS_SENTINEL_MASTER="identity",
        REDIS_SENTINEL_PASSWORD="pw",
    )
    assert result.returncode == 0, result.stderr
    sentinels, broker, options = json.loads(result.stdout)
    assert sentinels == [["10.0.0.1", 26379], ["10.0.0.2", 26379]]
    assert broker == "sentinel://10.0.0.1:26379/2;sentinel://10.0.0.2:26379/2"
    assert options["master_name"] == "identity" and options["sentinel_kwargs"]["password"] == "pw"
    assert options["socket_timeout"] == 5, "merged with the broker's own options"

    plain = json.loads(load_settings(REDIS_URL="redis://x:6379/2").stdout)
    assert plain == [[], "redis://x:6379/2", {"socket_connect_timeout": 2, "socket_timeout": 5}]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"REDIS_SENTINELS": "10.0.0.1:26379,10.0.0.2:x"}, "REDIS_SENTINELS: not a host:port address"),
        # with a rediss:// REDIS_URL, a system check refuses (identity.E006): tests/identity/test_settings.py
    ],
)
def test_settings_refuse_to_start_with_bad_sentinels(env, message):
    result = load_settings(**env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr
