"""Register (or update) a SAML service provider from its metadata, as the admin does."""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from saml.metadata import MetadataProblem
from saml.models import ServiceProvider
from saml.registration import fetch_metadata, register


class Command(BaseCommand):
    help = "Register a SAML service provider from its metadata (a file or a URL, fetched once)."

    def add_arguments(self, parser):
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--metadata-file", type=Path, help="The SP's metadata XML.")
        source.add_argument("--metadata-url", help="Where the SP publishes its metadata (https).")
        parser.add_argument("--name", default="", help="The app's name, as people see it.")
        parser.add_argument(
            "--nameid", choices=["persistent", "email"], default="persistent", help="The NameID the SP gets."
        )
        parser.add_argument("--assignment-required", action="store_true", help="Only assigned people may sign in.")
        parser.add_argument("--release-groups", action="store_true", help="Release the person's group ids.")
        parser.add_argument("--no-roles", action="store_true", help="Do not release the app's roles.")
        parser.add_argument("--idp-initiated", action="store_true", help="Allow sign-on started at Identity.")

    def handle(self, *args, **options):
        url = options["metadata_url"] or ""
        try:
            xml = fetch_metadata(url) if url else options["metadata_file"].read_text()
            sp = register(
                options["name"],
                xml,
                metadata_url=url,
                assignment_required=options["assignment_required"],
                name_id_format=(
                    ServiceProvider.NameIdFormat.EMAIL
                    if options["nameid"] == "email"
                    else ServiceProvider.NameIdFormat.PERSISTENT
                ),
                release_groups=options["release_groups"],
                release_roles=not options["no_roles"],
                idp_initiated=options["idp_initiated"],
            )
        except (MetadataProblem, ValidationError, OSError) as problem:
            raise CommandError(str(problem)) from None
        self.stdout.write(f"Registered {sp.entity_id} as app {sp.app.name or sp.app.client_id} (id {sp.pk}).")
