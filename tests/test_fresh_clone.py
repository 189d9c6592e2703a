"""The README's development commands work as written on a fresh clone: `make run` writes a development
`.env` (scripts/dev-env), and `.venv/bin/python manage.py createsuperuser` run by hand afterwards finds the
same site (development mode, the SQLite database in var/, SITE_URL on the chosen PORT) without exporting
anything. The clone uses this run's .venv; it starts no server, but runs manage.py several times."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.processes]

ROOT = Path(__file__).resolve().parents[1]
# What a developer's shell would not have: the test run's own settings (its database above all).
TEST_ONLY = ("DJANGO_", "DATABASE_", "SITE_", "EMAIL_", "SECURE_", "WEBAUTHN_", "IDENTITY_ENV_FILE", "PORT")


@pytest.fixture
def clone(tmp_path) -> Path:
    target = tmp_path / "identity"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(target)], check=True, timeout=120)
    (target / ".venv").symlink_to(Path(sys.prefix))  # the shared environment, as .venv is here
    return target


def shell(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(TEST_ONLY)}
    env.update(PASSWORD_BREACH_CHECK="0", **extra)  # no network from CI
    return env


def run(clone: Path, *command: str, **extra) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=clone, env=shell(**extra), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}\n{result.stderr}"
    return result


def last_line(result: subprocess.CompletedProcess) -> list[str]:
    """What the probe printed (after any log lines), split into words."""
    return result.stdout.strip().splitlines()[-1].split()


PROBE = (
    "from django.conf import settings; from mfa.app_settings import app_settings as m; "
    "print(settings.DEBUG, settings.SITE_URL, m.WEBAUTHN_ORIGINS[0], m.WEBAUTHN_RP_ID, "
    "settings.DATABASES['default']['NAME'])"
)


def test_the_documented_commands_work_on_a_fresh_clone_with_another_port(clone):
    manage = (".venv/bin/python", "manage.py")
    # What `PORT=8041 make run` does first (scripts/run), then the migration it runs.
    assert run(clone, "scripts/dev-env", PORT="8041").stdout.strip() == "http://localhost:8041"
    assert "SITE_URL=http://localhost:8041" in (clone / ".env").read_text()
    assert ".env" in (clone / ".gitignore").read_text().split()
    run(clone, *manage, "migrate", "--noinput", "-v0")

    # The README's commands, as written: nothing exported.
    run(clone, *manage, "createsuperuser", "--noinput", DJANGO_SUPERUSER_EMAIL="admin@example.com",
        DJANGO_SUPERUSER_PASSWORD="a long development password")  # fmt: skip
    run(clone, *manage, "check")
    debug, site_url, origin, rp_id, database = last_line(run(clone, *manage, "shell", "-c", PROBE))
    assert (debug, site_url, origin, rp_id) == ("True", "http://localhost:8041", "http://localhost:8041", "localhost")
    assert Path(database).parent == clone / "var"
    admins = run(clone, *manage, "shell", "-c", "from accounts.models import User; print(User.objects.get().email)")
    assert last_line(admins) == ["admin@example.com"]

    # The environment wins over the file; without the file, production's refusal stands.
    overridden = run(clone, *manage, "shell", "-c", PROBE, SITE_URL="http://localhost:9999")
    assert last_line(overridden)[1] == "http://localhost:9999"
    (clone / ".env").unlink()
    refused = subprocess.run([*manage, "check"], cwd=clone, env=shell(), capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "DJANGO_SECRET_KEY must be set" in refused.stderr


def test_make_run_refuses_a_site_url_on_another_port(clone):
    result = subprocess.run(
        ["scripts/dev-env"], cwd=clone, env=shell(PORT="8041", SITE_URL="http://localhost:8000"),
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode != 0
    assert "SITE_URL is http://localhost:8000 but PORT is 8041" in result.stderr
    assert not (clone / ".env").exists()
    kept = run(clone, "scripts/dev-env", PORT="8041", SITE_URL="https://id.example.test")  # a proxy in front
    assert kept.stdout.strip() == "https://id.example.test"
