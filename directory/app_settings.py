"""The settings only the directory reads, with their defaults, each from the environment variable of
the same name (README's configuration table). Read them as `app_settings.NAME`: a Django setting of
that name wins (a test's override), see identity.env.AppSettings."""

from __future__ import annotations

from identity.env import AppSettings, env


class DirectorySettings(AppSettings):
    # A token carries at most this many group ids; beyond it, a marker pointing at userinfo (Entra's
    # "groups overage"), so a member of many groups cannot make a token too big for a cookie or header.
    DIRECTORY_GROUPS_CLAIM_LIMIT: int = env.int("DIRECTORY_GROUPS_CLAIM_LIMIT", 150)


app_settings = DirectorySettings()
