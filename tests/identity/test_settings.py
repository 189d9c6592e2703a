"""The settings module read fresh in a subprocess, the way a deployment would load it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from accounts.app_settings import AccountsSettings
from accounts.app_settings import app_settings as accounts_settings
from identity import settings as identity_settings
from identity.env import env
from identity.health import STARTUP
from mfa.app_settings import MfaSettings
from oidc.app_settings import OidcSettings
from tests.identity.test_operations import production_env
from tests.processes import free_port, gunicorn_refusal

ROOT = Path(__file__).resolve().parents[2]

PROBE = (
    "import django, json; from django.conf import settings; django.setup(); "
    "print(json.dumps({k: getattr(settings, k) for k in ("
    "'DEBUG', 'SESSION_COOKIE_NAME', 'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_NAME', 'CSRF_COOKIE_SECURE', "
    "'SESSION_COOKIE_HTTPONLY', 'SESSION_COOKIE_SAMESITE', 'SESSION_COOKIE_AGE', 'SESSION_ABSOLUTE_LIFETIME', "
    "'PASSWORD_HASHERS', 'EMAIL_BACKEND')}))"
)


def run(command: list[str], env: dict, cwd=ROOT) -> subprocess.CompletedProcess:
    """`command` in a fresh process on the production settings, with these variables (and the test
    run's services)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "SECURE_"))}
    clean.update(env, DJANGO_SETTINGS_MODULE="identity.settings")
    return subprocess.run(command, env=clean, cwd=cwd, capture_output=True, text=True, timeout=60)


def load(env: dict, cwd=ROOT, probe=PROBE):
    return run([sys.executable, "-c", probe], env, cwd)


def test_production_refuses_to_start_without_a_secret_key():
    result = load({})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_production_cookies_are_host_prefixed_and_secure():
    import json

    result = load({"DJANGO_SECRET_KEY": "x" * 50})
    assert result.returncode == 0, result.stderr
    s = json.loads(result.stdout)
    assert s["DEBUG"] is False
    assert s["SESSION_COOKIE_NAME"].startswith("__Host-") and s["SESSION_COOKIE_SECURE"]
    assert s["CSRF_COOKIE_NAME"].startswith("__Host-") and s["CSRF_COOKIE_SECURE"]
    assert s["SESSION_COOKIE_HTTPONLY"] and s["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert s["SESSION_COOKIE_AGE"] == 1800 and s["SESSION_ABSOLUTE_LIFETIME"] == 12 * 3600
    assert s["PASSWORD_HASHERS"][0] == "accounts.hashers.Argon2idHasher"
    assert s["EMAIL_BACKEND"].endswith("smtp.EmailBackend")


def test_timeouts_are_settings():
    import json

    result = load({"DJANGO_SECRET_KEY": "x" * 50, "SESSION_IDLE_TIMEOUT": "600", "SESSION_ABSOLUTE_LIFETIME": "3600"})
    s = json.loads(result.stdout)
    assert s["SESSION_COOKIE_AGE"] == 600 and s["SESSION_ABSOLUTE_LIFETIME"] == 3600


def test_development_generates_and_keeps_a_secret_key(tmp_path):
    import json

    result = load({"DJANGO_DEBUG": "1"})
    assert result.returncode == 0, result.stderr
    s = json.loads(result.stdout)
    assert s["DEBUG"] is True and s["SESSION_COOKIE_NAME"] == "session"
    assert s["EMAIL_BACKEND"] == "identity.mail.DevelopmentEmailBackend"
    key_file = ROOT / ".secret_key"
    assert key_file.exists() and oct(key_file.stat().st_mode)[-3:] == "600"


# --- A value that is not of its variable's type stops the start, naming the variable -----------------


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SESSION_IDLE_TIMEOUT", "abc", "SESSION_IDLE_TIMEOUT must be a whole number, not 'abc'."),
        ("DJANGO_DEBUG", "maybe", "DJANGO_DEBUG must be on or off"),
        ("REDIS_SOCKET_TIMEOUT", "1.5s", "REDIS_SOCKET_TIMEOUT must be a number, not '1.5s'."),
        # an app's own setting, read when the app loads (accounts/app_settings.py)
        ("MFA_PENDING_TIMEOUT", "5m", "MFA_PENDING_TIMEOUT must be a whole number, not '5m'."),
        ("PASSWORD_BREACH_CHECK", "enabled", "PASSWORD_BREACH_CHECK must be on or off"),
    ],
)
def test_a_value_of_the_wrong_type_stops_the_start_naming_its_variable(variable, value, message):
    result = load({"DJANGO_SECRET_KEY": "x" * 50, variable: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr, result.stderr[-2000:]


@pytest.fixture
def environment(monkeypatch):
    def set_variables(**variables: str) -> None:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)

    return set_variables


def test_switches_are_strict(environment):
    environment(ON=" Yes ", OFF="off", EMPTY="", ODD="2")
    assert env.bool("ON", False) is True and env.bool("OFF", True) is False
    assert env.bool("EMPTY", True) is True and env.bool("UNSET_SWITCH", True) is True  # empty: the default
    with pytest.raises(ImproperlyConfigured, match="ODD must be on or off"):
        env.bool("ODD", False)  # django-environ's own would say True (2 != 0)


def test_numbers_and_lists_read_as_before(environment):
    environment(NUMBER=" 12 ", EMPTY_NUMBER="", BAD_NUMBER="1.5", LIST=" a , b ,, c ", EMPTY_LIST="")
    assert env.int("NUMBER", 1) == 12 and env.int("EMPTY_NUMBER", 7) == 7 and env.int("UNSET_NUMBER", 3) == 3
    with pytest.raises(ImproperlyConfigured, match=r"BAD_NUMBER must be a whole number, not '1\.5'"):
        env.int("BAD_NUMBER", 1)
    assert env.list("LIST", default=["x"]) == ["a", "b", "c"]
    assert env.list("EMPTY_LIST", default=["x"]) == [], "set but empty is no entries, as before (METRICS_ALLOWED_IPS=)"
    assert env.list("UNSET_LIST", default=["x"]) == ["x"]


def test_a_value_starting_with_a_dollar_is_itself_not_another_variable(environment):
    """django-environ's "proxied values" would look up a variable named by the rest of the value:
    a generated secret key or password starting with "$" would not start."""
    environment(EMAIL_HOST_PASSWORD="$ecret", ecret="not this")
    assert env.str("EMAIL_HOST_PASSWORD", "") == "$ecret"


def test_strings_keep_what_was_set_and_a_missing_required_one_is_named(environment):
    environment(NAME="  Identity  ", EMPTY_NAME="")
    assert env.str("NAME", "x") == "Identity" and env.str("EMPTY_NAME", "x") == ""
    with pytest.raises(ImproperlyConfigured, match="Set the UNSET_NAME environment variable"):
        env.str("UNSET_NAME")


# --- An app's own settings: from the environment, overridden by a Django setting ----------------------


def test_an_app_setting_comes_from_the_environment():
    import json

    probe = (
        "import django, json; django.setup(); from accounts.app_settings import app_settings as a; "
        "from mfa.app_settings import app_settings as m; from oidc.app_settings import app_settings as o; "
        "print(json.dumps([a.MFA_PENDING_TIMEOUT, a.MFA_REQUIRED, m.WEBAUTHN_RP_ID, m.WEBAUTHN_ORIGINS, "
        "o.OIDC_STEP_UP_TIMEOUT, a.REAUTHENTICATION_TIMEOUT]))"
    )
    env = {
        "DJANGO_SECRET_KEY": "x" * 50,
        "SITE_URL": "https://id.example.com",
        "MFA_PENDING_TIMEOUT": "42",
        "MFA_REQUIRED": "ALL",
        "OIDC_STEP_UP_TIMEOUT": "60",
    }
    result = load(env, probe=probe)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [42, "all", "id.example.com", ["https://id.example.com"], 60, 600]


def test_a_django_setting_overrides_an_app_setting(settings):
    """As tests override them (the settings fixture, override_settings), and a deployment's own module."""
    assert accounts_settings.MFA_PENDING_TIMEOUT == 300
    settings.MFA_PENDING_TIMEOUT = 5
    assert accounts_settings.MFA_PENDING_TIMEOUT == 5
    with override_settings(MFA_PENDING_TIMEOUT=7):
        assert accounts_settings.MFA_PENDING_TIMEOUT == 7
    assert accounts_settings.MFA_PENDING_TIMEOUT == 5


def test_identity_settings_hold_no_app_setting():
    """An app's own settings live with the app: identity/settings.py defines none of them."""
    ours = {name for cls in (AccountsSettings, MfaSettings, OidcSettings) for name in vars(cls) if name.isupper()}
    assert ours and not ours & set(vars(identity_settings))


# --- Well formed but wrong: system checks, run by `manage.py check` and at every web start ------------


def startup_errors() -> dict[str, str]:
    return {str(message.id): message.msg for message in run_checks(tags=[STARTUP]) if message.is_serious()}


def test_the_test_settings_pass_the_startup_checks():
    assert startup_errors() == {}


@pytest.mark.parametrize(
    ("setting", "value", "check_id", "message"),
    [
        (
            "RATE_LIMITS",
            {"signin-acount": "1/h"},
            "identity.E004",
            "RATE_LIMITS names an unknown limit: 'signin-acount'.",
        ),
        (
            "RATE_LIMITS",
            {"signin-ip": "60/15min"},
            "identity.E005",
            "RATE_LIMITS signin-ip: not a rate limit: '60/15min'.",
        ),
        (
            "RATE_LIMITS",
            {"signin-ip": "0/h"},
            "identity.E005",
            "RATE_LIMITS signin-ip: a rate limit needs at least one",
        ),
        (
            "TRUSTED_PROXIES",
            ["10.0.0.1", "proxy.internal"],
            "identity.E002",
            "TRUSTED_PROXIES: not an IP address or network: 'proxy.internal'.",
        ),
        (
            "METRICS_ALLOWED_IPS",
            ["localhost"],
            "identity.E003",
            "METRICS_ALLOWED_IPS: not an IP address or network: 'localhost'.",
        ),
        ("MFA_REQUIRED", "sometimes", "accounts.E001", "MFA_REQUIRED must be off, staff or all, not 'sometimes'."),
    ],
)
def test_a_bad_setting_fails_its_startup_check(settings, setting, value, check_id, message):
    if setting == "RATE_LIMITS":
        value = {**settings.RATE_LIMITS, **value}
    setattr(settings, setting, value)
    errors = startup_errors()
    assert list(errors) == [check_id] and errors[check_id].startswith(message), errors


def test_sentinels_need_a_plain_redis_url(settings):
    settings.REDIS_SENTINELS = [("10.0.0.1", 26379)]
    settings.REDIS_URL = "rediss://x:6380/0"
    assert startup_errors() == {
        "identity.E006": "REDIS_SENTINELS needs a redis:// REDIS_URL (TLS through Sentinel is not supported)."
    }
    settings.REDIS_URL = "redis://x:6379/0"
    assert startup_errors() == {}


def test_a_cluster_is_refused_with_sentinels_another_database_or_no_broker_of_its_own(settings):
    settings.REDIS_CLUSTER_NODES = [("10.0.0.1", 6379), ("10.0.0.2", 6379)]
    settings.REDIS_SENTINELS = [("10.0.0.1", 26379)]
    settings.REDIS_URL = "redis://:pw@x:6379/2"
    settings.CELERY_BROKER_URL = ""
    assert startup_errors() == {
        "identity.E007": "REDIS_SENTINELS and REDIS_CLUSTER_NODES are both set.",
        "identity.E008": "REDIS_CLUSTER_NODES needs database 0 in REDIS_URL (a Redis Cluster has no other).",
        "identity.E009": "REDIS_CLUSTER_NODES needs a CELERY_BROKER_URL of its own "
        "(Celery cannot use a Redis Cluster).",
    }
    settings.REDIS_SENTINELS = []
    settings.REDIS_URL = "rediss://:pw@x:6379/0"  # TLS is fine on a cluster
    settings.CELERY_BROKER_URL = "redis://broker:6379/0"
    assert startup_errors() == {}


def check(**variables: str) -> subprocess.CompletedProcess:
    return run([sys.executable, "manage.py", "check"], {"DJANGO_SECRET_KEY": "x" * 50, **variables})


# Each bad value with the words its check must say. Two runs of `manage.py check` hold them all
# (RATE_LIMITS takes one value per run): a fresh process costs seconds, and every check runs and
# reports in each, so one run shows that each bad value is named (and that the settings still load).
BAD_VALUES = [
    (
        {
            "RATE_LIMITS": "signin-account=5/15m,signin-acount=1/h,signin-ip=60/15min",
            "TRUSTED_PROXIES": "10.0.0.1,proxy.internal",
            "METRICS_ALLOWED_IPS": "127.0.0.1,localhost",
            "REDIS_SENTINELS": "10.0.0.1:26379",
            "REDIS_URL": "rediss://x:6380/0",
            "MFA_REQUIRED": "everyone",
        },
        [
            ["identity.E004", "'signin-acount'"],
            ["identity.E005", "RATE_LIMITS signin-ip"],
            ["identity.E002", "TRUSTED_PROXIES", "proxy.internal"],
            ["identity.E003", "METRICS_ALLOWED_IPS", "'localhost'"],
            ["identity.E006", "needs a redis:// REDIS_URL"],
            ["accounts.E001", "MFA_REQUIRED must be off, staff or all"],
        ],
    ),
    ({"RATE_LIMITS": "signin-ip"}, [["identity.E005", "RATE_LIMITS signin-ip: not a rate limit: ''"]]),
]


@pytest.mark.parametrize(("variables", "expected"), BAD_VALUES)
def test_manage_py_check_refuses_a_bad_value_and_names_it(variables, expected):
    """The settings load (a bad entry no longer crashes the import); the check says what is wrong."""
    result = check(**variables)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" not in output, output[-2000:]
    for words in expected:
        line = next((line for line in output.splitlines() if words[0] in line), "")
        assert all(word in line for word in words), (words, output[-2000:])


def test_manage_py_check_passes_with_good_overrides():
    result = check(
        RATE_LIMITS=" signin-account = 5/15m , signup-ip=20/h",
        TRUSTED_PROXIES="10.0.0.1,10.1.0.0/16",
        METRICS_TOKEN="t" * 32,
        MFA_REQUIRED="All",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_web_process_refuses_to_start_on_a_failing_startup_check():
    """gunicorn loads identity.wsgi, which runs the STARTUP checks before it serves (a worker that
    cannot load the application stops the server: the next test starts one)."""
    variables = {"DJANGO_SECRET_KEY": "x" * 50, "RATE_LIMITS": "signin-ip=60/15min"}
    result = run([sys.executable, "-c", "import identity.wsgi"], variables)
    assert result.returncode != 0
    assert "ImproperlyConfigured: identity.E005: RATE_LIMITS signin-ip: not a rate limit: '60/15min'." in result.stderr


@pytest.mark.processes
def test_gunicorn_does_not_start_with_a_malformed_rate_limit(tmp_path):
    env = production_env(RATE_LIMITS="signin-ip=60/15min", BIND=f"127.0.0.1:{free_port()}", WEB_CONCURRENCY="1")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    returncode, text = gunicorn_refusal(env, tmp_path / "gunicorn.log", ROOT)
    assert returncode is not None and returncode != 0
    assert "identity.E005" in text and "RATE_LIMITS signin-ip" in text, text[-3000:]


@pytest.mark.processes
def test_a_celery_worker_does_not_start_with_a_malformed_rate_limit():
    """As before the checks were system checks (the settings import failed then): the worker refuses too."""
    variables = {"DJANGO_SECRET_KEY": "x" * 50, "RATE_LIMITS": "signin-ip=60/15min"}
    celery = str(Path(sys.executable).parent / "celery")
    result = run([celery, "-A", "identity", "worker", "--pool=solo", "--loglevel=WARNING"], variables)
    assert result.returncode != 0
    assert "identity.E005: RATE_LIMITS signin-ip: not a rate limit: '60/15min'." in result.stdout + result.stderr


SQLITE_WRITERS = """
import threading, time
import django
django.setup()
from django.db import connection, transaction

with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE IF NOT EXISTS t (n integer)")
    cursor.execute("PRAGMA journal_mode")
    print(cursor.fetchone()[0])
connection.close()
errors = []

def hold():  # a worker's transaction that writes, then takes its time
    with transaction.atomic():
        connection.cursor().execute("INSERT INTO t VALUES (1)")
        time.sleep(1)
    connection.close()

def read_then_write():  # another process's: reads, then writes, while the first one holds the lock
    time.sleep(0.2)
    try:
        with transaction.atomic():
            connection.cursor().execute("SELECT count(*) FROM t")
            connection.cursor().execute("INSERT INTO t VALUES (2)")
    except Exception as error:
        errors.append(repr(error))
    connection.close()

threads = [threading.Thread(target=hold), threading.Thread(target=read_then_write)]
for thread in threads: thread.start()
for thread in threads: thread.join()
print(errors or "both wrote")
"""


def test_the_embedded_sqlite_lets_processes_wait_for_each_other_instead_of_failing(tmp_path):
    """`make run`'s SQLite is shared by gunicorn's workers and Celery: a transaction that read before it
    writes, beside another that holds the write lock, waits (IMMEDIATE, a busy timeout) rather than
    failing with "database is locked" after work it cannot undo, such as a mail already sent."""
    result = run(
        [sys.executable, "-c", SQLITE_WRITERS],
        {"DATABASE_URL": f"sqlite:///{tmp_path / 'identity.sqlite3'}", "DJANGO_DEBUG": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["wal", "both", "wrote"], result.stdout
