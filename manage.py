#!/usr/bin/env python
import os
import sys
from pathlib import Path


def read_env_file() -> None:
    """The development `.env` that `make run` writes (scripts/dev-env), if there is one: its variables
    fill in what the environment does not set, never override it. IDENTITY_ENV_FILE names another file;
    set empty, none is read (the tests, which must not depend on a developer's file)."""
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
