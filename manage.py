#!/usr/bin/env python
import os
import sys
from pathlib import Path


def read_env_file() -> None:
    """The development `.env` that `make run` writes (scripts/dev-env), if there is one: its variables
    fill in what the environment does not set, never override it. IDENTITY_ENV_FILE names another file;
    set empty, none is read (the tests, which must not depend on a developer's file).

    An environment that sets DJANGO_SECRET_KEY (production must) is a service's: it reads no .env, so a
    file left by `make run` in a checkout (or copied into an image) never turns a release job or the
    runbook's `manage.py shell` into development mode (DJANGO_DEBUG=1: mail to files, no Secure cookies)."""
    if os.environ.get("DJANGO_SECRET_KEY"):
        return
    path = os.environ.get("IDENTITY_ENV_FILE", str(Path(__file__).resolve().parent / ".env"))
    if path and Path(path).is_file():
        import environ

        environ.Env.read_env(path, overwrite=False)


def main() -> None:
    read_env_file()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "identity.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
