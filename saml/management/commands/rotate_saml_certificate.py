"""Rotate the IdP's signing certificate in two steps, so that no SP ever sees a signature from a
certificate its metadata does not list: --stage publishes the next one, --activate (once the SPs have
refreshed their metadata) starts signing with it and retires the old one."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from saml import keys
from saml.app_settings import app_settings


def _when(timestamp: int | None) -> str:
    return "-" if timestamp is None else datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


class Command(BaseCommand):
    help = (
        "Show the SAML signing certificates; --stage publishes the next one, --activate signs with it "
        "(creates the first with --stage, then --activate)."
    )

    def add_arguments(self, parser):
        step = parser.add_mutually_exclusive_group()
        step.add_argument("--stage", action="store_true", help="Publish a new certificate in the metadata.")
        step.add_argument("--activate", action="store_true", help="Sign with the staged certificate.")
        parser.add_argument(
            "--print",
            action="store_true",
            dest="print_keyset",
            help="Print the new keyset (for SAML_SIGNING_KEYS) instead of writing SAML_KEYS_FILE.",
        )

    def handle(self, *args, stage: bool, activate: bool, print_keyset: bool, **options):
        if not (stage or activate):
            self.show_status()
            return
        try:
            current = keys.stored_keyset()
        except keys.CertificatesUnavailable as problem:
            raise CommandError(problem.reason) from None
        try:
            rotated = keys.staged(current) if stage else keys.activated(current)
        except keys.RotationRefused as refusal:
            raise CommandError(str(refusal)) from None
        if print_keyset or app_settings.SAML_SIGNING_KEYS:
            # Keys from the environment are the operator's to replace: print the next keyset to set.
            self.stdout.write(json.dumps(rotated))
            self.stderr.write("Set SAML_SIGNING_KEYS to the keyset above on every node, then restart them.")
            return
        keys.write_keyset(rotated)
        if stage:
            self.stdout.write(
                f"Staged certificate {keys.fingerprint(rotated['keys'][-1]['cert'])} in {app_settings.SAML_KEYS_FILE}: "
                "it is in the metadata now and signs nothing yet. Activate it with --activate once every SP "
                "has fetched the new metadata."
            )
        else:
            self.stdout.write(
                f"Signing with certificate {keys.active().fingerprint}; the previous one stays in the metadata "
                f"for {app_settings.SAML_CERT_RETENTION} s."
            )

    def show_status(self) -> None:
        try:
            certificates = keys.all_certificates()
        except keys.CertificatesUnavailable as problem:
            raise CommandError(str(problem)) from None
        published = {certificate.fingerprint for certificate in keys.published()}
        if not certificates:
            self.stdout.write("No SAML signing certificate. Create one with --stage, then --activate.")
        for certificate in certificates:
            state = certificate.state if certificate.fingerprint in published else f"{certificate.state}, unpublished"
            self.stdout.write(
                f"{certificate.fingerprint}  {state}  created {_when(certificate.created)}  "
                f"activated {_when(certificate.activated)}  retired {_when(certificate.retired)}  "
                f"expires {_when(certificate.expires)}"
            )
