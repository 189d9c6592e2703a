"""Prepares the stock allauth site's database for a run: its migrations, then `people` users who sign
in by username with the bench's password (one PBKDF2 hash for all: verifying costs the same). Run by
bench/run.py as `python -m bench.allauth_site.prepare <people>` with the site's settings and database."""

from __future__ import annotations

import sys

import django

django.setup()

from django.contrib.auth.hashers import make_password  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402

from bench import accounts  # noqa: E402


def prepare(people: int) -> None:
    call_command("migrate", "--noinput", verbosity=0)
    encoded = make_password(accounts.PASSWORD)
    User.objects.bulk_create(
        User(username=accounts.username(n), email=accounts.email(n), password=encoded) for n in range(people)
    )


if __name__ == "__main__":
    prepare(int(sys.argv[1]))
