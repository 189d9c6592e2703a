"""What a SCIM client may see and touch: never a staff or superuser account (it cannot even find one:
they answer 404 and match no filter, as if absent), and unless it may touch any account, only the
people and groups it provisioned itself."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User
from directory.models import Group

from .models import ScimClient


def visible_users(client: ScimClient) -> QuerySet[User]:
    users = User.objects.filter(is_staff=False, is_superuser=False)
    return users if client.any_account else users.filter(scim__client=client)


def visible_groups(client: ScimClient) -> QuerySet[Group]:
    return Group.objects.all() if client.any_account else Group.objects.filter(scim__client=client)
