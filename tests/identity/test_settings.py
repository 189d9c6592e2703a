"""The settings module read fresh in a subprocess, the way a deployment would load it."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = (
    "import django, json; from django.conf import settings; django.setup(); "
    "print(json.dumps({k: getattr(settings, k) for k in ("
    "'DEBUG', 'SESSION_COOKIE_NAME', 'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_NAME', 'CSRF_COOKIE_SECURE', "
    "'SESSION_COOKIE_HTTPONLY', 'SESSION_COOKIE_SAMESITE', 'SESSION_COOKIE_AGE', 'SESSION_ABSOLUTE_LIFETIME', "
    "'PASSWORD_HASHERS', 'EMAIL_BACKEND')}))"
)


def load(env: dict, cwd=ROOT):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "SECURE_"))}
    clean.update(env, DJANGO_SETTINGS_MODULE="identity.settings")
    return subprocess.run([sys.executable, "-c", PROBE], env=clean, cwd=cwd, capture_output=True, text=True)


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
    assert s["EMAIL_BACKEND"].endswith("console.EmailBackend")
    key_file = ROOT / ".secret_key"
    assert key_file.exists() and oct(key_file.stat().st_mode)[-3:] == "600"
