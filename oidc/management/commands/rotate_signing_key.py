"""Start signing with new keys, one of every type (RSA for RS256, P-256 for ES256); the old ones stay
in the JWKS until their tokens have expired. A keyset from before ES256 gains its P-256 key this way."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from oidc import keys
from oidc.app_settings import app_settings


class Command(BaseCommand):
    help = (
        "Rotate the OpenID Connect signing keys: a new RSA (RS256) and P-256 (ES256) key each, the old ones "
        "retired (creates the first keys, or the missing type, too)."
    )

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
        kids = ", ".join(f"{alg} {keys.active_key(alg).kid}" for alg in keys.ALGORITHMS.values())
        self.stdout.write(f"New signing keys ({kids}) in {path}; retired keys stay published for {keys.retention()} s.")
