"""Emptying the database after a test that commits (transaction=True, live_server, a Celery worker, the
server processes), quicker than Django's flush and to the same end.

Django's flush truncates every table (about 0.5 s on PostgreSQL: new files for each table and index, and
every other connection's caches invalidated), then its post_migrate signal writes the content types and
permissions back. Here, when only ordinary rows were added, the tables that hold any are emptied with
DELETE in one transaction (foreign keys are checked at its commit, by which time the rows they point at
and from are all gone), and the content types and permissions, which the last real flush left exactly
as post_migrate makes them, stay. Whatever else the test did (content types or permissions changed, a
test asking for reset sequences, serialized rollback or another database, a DELETE refused) gets
Django's own flush. Either way the next test starts with the same rows: none but those.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction

# The tables post_migrate fills (django.contrib.contenttypes and django.contrib.auth).
KEPT = ("django_content_type", "auth_permission")
FINGERPRINT = """
    SELECT (SELECT md5(string_agg(t::text, ',' ORDER BY t.id)) FROM django_content_type t),
           (SELECT md5(string_agg(p::text, ',' ORDER BY p.id)) FROM auth_permission p)
"""


class QuickFlush:
    """A replacement for TransactionTestCase._fixture_teardown that falls back to `original`."""

    def __init__(self, original: Callable) -> None:
        self.original = original
        self.after_flush: tuple | None = None  # the kept tables as the last real flush left them

    def __call__(self, case) -> None:
        if not self._simple(case) or not self._emptied():
            self.original(case)
            self.after_flush = self._fingerprint()

    @staticmethod
    def _simple(case) -> bool:
        return (
            case.available_apps is None
            and not case.reset_sequences
            and not case.serialized_rollback
            and set(case._databases_names(include_mirrors=False)) == {DEFAULT_DB_ALIAS}
        )

    def _fingerprint(self) -> tuple:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute(FINGERPRINT)
            return tuple(cursor.fetchone())

    def _emptied(self) -> bool:
        try:
            return self.after_flush is not None and self._fingerprint() == self.after_flush and self._delete_rows()
        except DatabaseError:  # a foreign key that cannot wait for the commit, a connection the test broke
            return False

    @staticmethod
    def _delete_rows() -> bool:
        connection = connections[DEFAULT_DB_ALIAS]
        tables = [
            table
            for table in connection.introspection.django_table_names(only_existing=True, include_views=False)
            if table not in KEPT
        ]
        quote = connection.ops.quote_name
        with transaction.atomic(using=DEFAULT_DB_ALIAS), connection.cursor() as cursor:
            cursor.execute(
                " UNION ALL ".join(f"SELECT %s WHERE EXISTS (SELECT 1 FROM {quote(table)})" for table in tables),  # noqa: S608 (Django's own table names)
                tables,
            )
            holding = [row[0] for row in cursor.fetchall()]
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            for table in holding:
                cursor.execute(f"DELETE FROM {quote(table)}")  # noqa: S608 (Django's own table names)
        return True
