"""Once, when upgrading a site on one Redis server or Sentinel to hash-tagged rate-limit counters."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from identity.ratelimit import move_untagged_counters


class Command(BaseCommand):
    help = (
        "Move rate-limit counters stored before they had hash tags to their new names (keeps every count; "
        "safe to run again, and while the site serves)."
    )

    def handle(self, *args, **options):
        self.stdout.write(f"{move_untagged_counters()} counters moved.")
