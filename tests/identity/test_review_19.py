"""Issue 19 review (attacker's view): the development .env that manage.py reads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.processes]  # runs manage.py in a process of its own

ROOT = Path(__file__).resolve().parents[2]
PRINT_SETTINGS = (
    "from django.conf import settings; print(settings.DEBUG, settings.EMAIL_BACKEND, settings.SECURE_COOKIES)"
)


def test_a_development_env_file_never_turns_a_service_environment_into_debug(tmp_path):
    """A checkout on an application host where `make run` was tried once (or an image built with
    `COPY .` from a developer's clone: there is no .dockerignore) holds a .env with DJANGO_DEBUG=1. The
    runbook's `manage.py shell`/`migrate`, run with the service's environment (which sets no
    DJANGO_DEBUG: off is the default), then ran in development mode: mail with reset links went to
    var/mail/ files and the console instead of SMTP, cookies lost Secure. An environment that sets
    DJANGO_SECRET_KEY (required in production) is a service's, and reads no .env."""
    dotenv = tmp_path / ".env"
    dotenv.write_text("DJANGO_DEBUG=1\nSITE_URL=http://localhost:8000\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SITE_", "SECURE_", "EMAIL_"))}
    env.update(
        IDENTITY_ENV_FILE=str(dotenv),
        DJANGO_SECRET_KEY="a-production-secret-key-that-is-long-enough-0123456789",
        SITE_URL="https://id.example.com",
        DJANGO_SETTINGS_MODULE="identity.settings",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", PRINT_SETTINGS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False django.core.mail.backends.smtp.EmailBackend True"
