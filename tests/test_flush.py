"""tests/flush.py leaves what Django's flush would after a test that commits, or hands over to it."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group as AuthGroup
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection

from directory.models import Group, Membership
from tests.flush import KEPT, QuickFlush
from tests.users import add_totp

pytestmark = pytest.mark.django_db(transaction=True)


class Case:
    """What QuickFlush reads of pytest-django's TransactionTestCase."""

    available_apps = None
    reset_sequences = False
    serialized_rollback = False

    @staticmethod
    def _databases_names(include_mirrors: bool = True) -> list[str]:
        return ["default"]


def rows() -> dict[str, int]:
    counts = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.django_table_names(only_existing=True, include_views=False):
            cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(table)}")  # noqa: S608 (Django's tables)
            counts[table] = cursor.fetchone()[0]
    return counts


@pytest.fixture
def quick():
    """A QuickFlush whose fallback (Django's flush) only records that it was asked, as after a real flush."""
    handed_over: list = []
    flush = QuickFlush(handed_over.append)
    flush.after_flush = flush._fingerprint()
    flush.handed_over = handed_over  # type: ignore[attr-defined]
    return flush


def test_every_row_goes_but_the_content_types_and_permissions(quick, make_user):
    kept = {table: count for table, count in rows().items() if table in KEPT}
    user = make_user()
    add_totp(user)
    group = Group.objects.create(display_name="Staff")
    Membership.objects.create(group=group, user=user)
    AuthGroup.objects.create(name="Helpdesk").permissions.add(Permission.objects.first())
    assert sum(rows().values()) > sum(kept.values()) + 5

    quick(Case())

    assert quick.handed_over == []
    assert rows() == {**dict.fromkeys(rows(), 0), **kept}


def test_a_changed_content_type_or_permission_gets_djangos_flush(quick):
    ContentType.objects.create(app_label="elsewhere", model="thing")
    quick(Case())
    assert len(quick.handed_over) == 1


@pytest.mark.parametrize("asked", ["reset_sequences", "serialized_rollback"])
def test_a_test_asking_for_more_gets_djangos_flush(quick, make_user, asked):
    make_user()
    case = Case()
    setattr(case, asked, True)
    quick(case)
    assert len(quick.handed_over) == 1
    assert rows()["accounts_user"] == 1  # left to Django's flush
