"""Register a relying app from the command line (for automation) and print its client id and secret."""

from __future__ import annotations

import json
import secrets

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from oidc.models import Api, ApiScope, Client, SigningAlgorithm
from oidc.scopes import OIDC_SCOPES


class Command(BaseCommand):
    help = "Register a relying app. Prints its client id and, for confidential apps, its secret (shown once)."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--redirect-uri", action="append", default=[], dest="redirect_uris")
        parser.add_argument("--post-logout-uri", action="append", default=[], dest="post_logout_uris")
        parser.add_argument("--backchannel-logout-uri", default="")
        parser.add_argument(
            "--scopes",
            default="openid email profile offline_access",
            help="Space-separated scopes it may ask for: OpenID Connect's, and registered APIs' (granted to it).",
        )
        kind = parser.add_mutually_exclusive_group()
        kind.add_argument("--public", action="store_true", help="A public client (no secret; PKCE only).")
        kind.add_argument(
            "--machine", action="store_true", help="A confidential machine client using client credentials."
        )
        parser.add_argument("--skip-consent", action="store_true", help="A first-party app: no consent page.")
        parser.add_argument(
            "--algorithm",
            choices=SigningAlgorithm.values,
            default=SigningAlgorithm.ES256,
            help="How its ID tokens and logout tokens are signed (default ES256; RS256 for libraries that need it).",
        )
        parser.add_argument(
            "--serves",
            default="",
            metavar="API_IDENTIFIER",
            help="The resource server of this registered API: it may introspect the API's tokens (RFC 7662).",
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
            allowed_scopes=" ".join(scope for scope in options["scopes"].split() if scope in OIDC_SCOPES),
            skip_authorization=options["skip_consent"],
            algorithm=options["algorithm"],
            client_secret=secret or "",
        )
        api_scopes = [scope for scope in options["scopes"].split() if scope not in OIDC_SCOPES]
        granted = list(ApiScope.objects.filter(value__in=api_scopes))
        unknown = set(api_scopes) - {scope.value for scope in granted}
        api = Api.objects.filter(identifier=options["serves"]).first() if options["serves"] else None
        problems = []
        if unknown:
            problems.append(f"scopes: Unknown scopes: {' '.join(sorted(unknown))} (register the API first)")
        if options["serves"] and api is None:
            problems.append(f"serves: No API is registered as {options['serves']}.")
        if api is not None and client.client_type != Client.CLIENT_CONFIDENTIAL:
            problems.append("serves: A resource server authenticates with a secret: it must be a confidential client.")
        try:
            client.full_clean()
        except ValidationError as error:
            problems[:0] = [f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items()]
        if problems:
            raise CommandError("; ".join(problems))
        with transaction.atomic():
            client.save()
            client.granted_scopes.set(granted)
            if api is not None:
                api.resource_server = client
                api.save(update_fields=["resource_server"])
        if options["json"]:
            self.stdout.write(json.dumps({"client_id": client.client_id, "client_secret": secret}))
            return
        self.stdout.write(f"client_id: {client.client_id}")
        if secret:
            self.stdout.write(f"client_secret: {secret}")
            self.stderr.write("Keep the secret now: it is stored hashed and cannot be shown again.")
