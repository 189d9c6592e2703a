"""Start signing with a new key; the old one stays in the JWKS until its tokens have expired."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from oidc import keys
from oidc.app_settings import app_settings


class Command(BaseCommand):
    help = "Rotate the OpenID Connect signing key (creates the first key if there is none)."

    def handle(self, *args, **options):
        if app_settings.OIDC_SIGNING_KEYS:
            # Keys from the environment are the operator's to replace: print the next keyset to set.
            self.stdout.write(json.dumps(keys.rotated(json.loads(app_settings.OIDC_SIGNING_KEYS))))
            self.stderr.write("Set OIDC_SIGNING_KEYS to the keyset above on every node, then restart them.")
            return
        path = app_settings.OIDC_KEYS_FILE
        try:
            current = json.loads(open(path).read())
        except FileNotFoundError:
            current = {"keys": []}
        keys.write_keyset(keys.rotated(current))
        self.stdout.write(
            f"New signing key {keys.active_key().kid} in {path}; retired keys stay published for {keys.retention()} s."
        )
