"""The directory's part of "Download my data" (accounts.account_data): groups, app assignments, roles."""

from __future__ import annotations

from accounts.account_data import add_data_part, when

from .models import Assignment, Membership


def directory(user) -> dict:
    return {
        "groups": [
            {"group": membership.group.display_name, "added_at": when(membership.added_at)}
            for membership in Membership.objects.filter(user=user).select_related("group").order_by("added_at")
        ],
        "app_assignments": [
            {
                "app": assignment.app.name,
                "role": assignment.role.display_name if assignment.role else None,
                "assigned_at": when(assignment.created_at),
            }
            for assignment in Assignment.objects.filter(user=user).select_related("app", "role").order_by("created_at")
        ],
    }


def register() -> None:
    add_data_part("directory", directory)
