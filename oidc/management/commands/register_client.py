"""Register a relying app from the command line (for automation) and print its client id and secret."""

from __future__ import annotations

import json
import secrets

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from oidc.models import Client


class Command(BaseCommand):
    help = "Register a relying app. Prints its client id and, for confidential apps, its secret (shown once)."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--redirect-uri", action="append", default=[], dest="redirect_uris")
        parser.add_argument("--post-logout-uri", action="append", default=[], dest="post_logout_uris")
        parser.add_argument("--backchannel-logout-uri", default="")
        parser.add_argument(
            "--scopes", default="openid email profile offline_access", help="Space-separated allowed scopes."
        )
        kind = parser.add_mutually_exclusive_group()
        kind.add_argument("--public", action="store_true", help="A public client (no secret; PKCE only).")
        kind.add_argument(
            "--machine", action="store_true", help="A confidential machine client using client credentials."
        )
        parser.add_argument("--skip-consent", action="store_true", help="A first-party app: no consent page.")
        parser.add_argument(
            "--introspect", action="store_true", help="A resource server: may introspect access tokens (RFC 7662)."
        )
        parser.add_argument(
            "--serves",
            default="",
            help="With --introspect: the space-separated scopes it serves; it learns only about tokens carrying one.",
        )
        parser.add_argument("--json", action="store_true", help="Print the result as JSON.")

    def handle(self, *args, **options):
        secret = None if options["public"] else secrets.token_urlsafe(48)
        client = Client(
            name=options["name"],
            client_type=Client.CLIENT_PUBLIC if options["public"] else Client.CLIENT_CONFIDENTIAL,
            authorization_grant_type=(
                Client.GRANT_CLIENT_CREDENTIALS if options["machine"] else Client.GRANT_AUTHORIZATION_CODE
            ),
            redirect_uris=" ".join(options["redirect_uris"]),
            post_logout_redirect_uris=" ".join(options["post_logout_uris"]),
            backchannel_logout_uri=options["backchannel_logout_uri"],
            allowed_scopes=options["scopes"],
            skip_authorization=options["skip_consent"],
            is_resource_server=options["introspect"],
            served_scopes=options["serves"],
            client_secret=secret or "",
        )
        try:
            client.full_clean()
        except ValidationError as error:
            problems = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items())
            raise CommandError(problems) from None
        client.save()
        if options["json"]:
            self.stdout.write(json.dumps({"client_id": client.client_id, "client_secret": secret}))
            return
        self.stdout.write(f"client_id: {client.client_id}")
        if secret:
            self.stdout.write(f"client_secret: {secret}")
            self.stderr.write("Keep the secret now: it is stored hashed and cannot be shown again.")
