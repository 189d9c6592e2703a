"""Add or update a sign-in provider from the command line (for automation), with its kind's defaults and
validation (federation/presets.py), as the admin's form has them.

The client secret is never an argument: arguments show in `ps` and in the shell's history. It is read
from the environment variable --client-secret-env names, or from the first line of standard input
(--client-secret-stdin)."""

from __future__ import annotations

import os
import sys
from argparse import BooleanOptionalAction

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from federation.flows import callback_url
from federation.models import Provider
from federation.presets import ENTRA_BASE, preset_for


class Command(BaseCommand):
    help = (
        "Add a sign-in provider, or update the one with this slug. Its kind's defaults fill what is not given; "
        "the client secret comes from an environment variable or standard input, never an argument."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("--slug", required=True, help="Part of its addresses: /accounts/federation/<slug>/.")
        parser.add_argument("--kind", choices=[kind.value for kind in Provider.Kind], help="Only when adding.")
        parser.add_argument("--name", help='What its button says: "Continue with <name>".')
        parser.add_argument("--issuer", help="The issuer (Entra: the authority; GitHub: its address).")
        parser.add_argument("--tenant", help="Entra: the tenant ID, organizations or common (instead of --issuer).")
        parser.add_argument("--client-id")
        secret = parser.add_mutually_exclusive_group()
        secret.add_argument("--client-secret-env", metavar="VARIABLE", help="Read the client secret from it.")
        secret.add_argument(
            "--client-secret-stdin", action="store_true", help="Read the client secret from standard input."
        )
        # A trap, so that a secret typed as an argument is refused rather than taken for a prefix of another.
        secret.add_argument("--client-secret", dest="secret_argument", help="Refused: use one of the two above.")
        parser.add_argument("--scopes", help="Space-separated.")
        parser.add_argument("--allowed-tenants", help="Entra for many tenants: the tenant IDs allowed.")
        parser.add_argument("--may-create-accounts", action=BooleanOptionalAction)
        parser.add_argument("--allowed-domains", help="Email domains it may create accounts for (blank: any).")
        parser.add_argument(
            "--trust-upstream-mfa",
            action=BooleanOptionalAction,
            help="Its ID token's amr may count as a second factor here (not for Google or GitHub).",
        )
        enabled = parser.add_mutually_exclusive_group()
        enabled.add_argument("--disable", action="store_true", help="Nobody signs in through it, at once.")
        enabled.add_argument("--enable", action="store_true")

    def handle(self, *args, **options):
        if options["secret_argument"] is not None:
            raise CommandError(
                "The client secret is never a command-line argument (it would show in ps and in the shell's "
                "history): use --client-secret-env VARIABLE or --client-secret-stdin."
            )
        provider = Provider.objects.filter(slug=options["slug"]).first()
        adding = provider is None
        if provider is None:
            preset = preset_for(options["kind"] or "oidc")
            provider = Provider(slug=options["slug"], **preset.defaults())
        elif options["kind"] and options["kind"] != provider.kind:
            raise CommandError(f"{provider.slug} is a {provider.kind} provider: its kind cannot change.")
        self._apply(provider, options)
        secret = self._secret(options)
        if secret:
            provider.client_secret = secret
        elif adding:
            raise CommandError("A new provider needs its client secret: --client-secret-env or --client-secret-stdin.")
        try:
            provider.full_clean()
        except ValidationError as error:
            problems = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items())
            raise CommandError(problems) from None
        provider.save()
        self.stdout.write(
            f"{'Added' if adding else 'Updated'} {provider.kind} provider {provider.slug} ({provider.name})."
        )
        self.stdout.write(f"Redirect URI to register at the provider: {callback_url(provider)}")

    def _apply(self, provider: Provider, options) -> None:
        if options["tenant"] is not None:
            if provider.kind != "entra" or options["issuer"] is not None:
                raise CommandError("--tenant is for Microsoft Entra ID (--kind entra), instead of --issuer.")
            options["issuer"] = f"{ENTRA_BASE}/{options['tenant']}/v2.0"
        for option, field in [
            ("name", "name"),
            ("issuer", "issuer"),
            ("client_id", "client_id"),
            ("scopes", "scopes"),
            ("allowed_tenants", "allowed_tenants"),
            ("may_create_accounts", "may_create_accounts"),
            ("allowed_domains", "allowed_email_domains"),
            ("trust_upstream_mfa", "trust_upstream_mfa"),
        ]:
            if options[option] is not None:
                setattr(provider, field, options[option])
        if options["disable"] or options["enable"]:
            provider.enabled = options["enable"]

    def _secret(self, options) -> str:
        if options["client_secret_env"]:
            secret = os.environ.get(options["client_secret_env"], "").strip()
            if not secret:
                raise CommandError(f"The environment variable {options['client_secret_env']} is not set or empty.")
            return secret
        if options["client_secret_stdin"]:
            secret = (options.get("stdin") or sys.stdin).readline().strip()
            if not secret:
                raise CommandError("No client secret on standard input.")
            return secret
        return ""
