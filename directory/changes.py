"""Noticing when a change to the directory takes something away from someone, whoever made it.

Every removal or edit of a membership, an assignment or a role passes the model signals, whether an
admin made it, a SCIM client, or a cascade (a group, role, app or account deleted): `pre_delete`, and
`pre_save` of a row that exists, note what the people concerned hold *before* the change. Once the
transaction commits, what they hold *now* is compared, and `signals.access_reduced` is sent for each
person and app that lost one of the app's roles or lost an assignment the app requires.

The notes are gathered per transaction, the first for a person and app winning, so deleting a group
of many members reads each of them once, not once per cascaded row. `QuerySet.update()` passes no
signal; nothing here updates these models that way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import post_save, pre_delete, pre_save
from oauth2_provider.models import get_application_model

from .access import is_assigned, roles_for
from .models import AppRole, Assignment, Membership
from .signals import access_reduced

Pair = tuple[int, int]  # (person's id, app's id)
PENDING = "_directory_pending_changes"  # on the database connection: this transaction's notes
BEFORE = "_directory_held_before"  # on an instance being saved: the notes pre_save took


@dataclass(frozen=True)
class Held:
    roles: frozenset[str]
    assigned: bool


def held(user_id: int, app_id: int) -> Held:
    return Held(frozenset(roles_for(user_id, app_id)), is_assigned(user_id, app_id))


def _members(group_id) -> set[int]:
    return set(Membership.objects.filter(group_id=group_id).values_list("user_id", flat=True))


def _pairs_of_assignment(assignment: Assignment) -> set[Pair]:
    people = {assignment.user_id} if assignment.user_id else _members(assignment.group_id)
    return {(person, assignment.app_id) for person in people}


def _pairs_of_membership(membership: Membership) -> set[Pair]:
    apps = Assignment.objects.filter(group_id=membership.group_id).values_list("app_id", flat=True).distinct()
    return {(membership.user_id, app) for app in apps}


def _pairs_of_role(role: AppRole) -> set[Pair]:
    pairs: set[Pair] = set()
    for assignment in Assignment.objects.filter(role_id=role.pk):
        pairs |= _pairs_of_assignment(assignment)
    return pairs


PAIRS_OF: dict[type, Callable[[Any], set[Pair]]] = {
    Assignment: _pairs_of_assignment,
    Membership: _pairs_of_membership,
    AppRole: _pairs_of_role,
}


class _Changes:
    """One transaction's notes, settled once it commits."""

    def __init__(self, using: str):
        self.using = using
        self.before: dict[Pair, Held] = {}
        self.settled = False

    def note(self, pairs: set[Pair]) -> None:
        for pair in pairs - self.before.keys():
            self.before[pair] = held(*pair)

    def merge(self, before: dict[Pair, Held]) -> None:
        for pair, was in before.items():
            self.before.setdefault(pair, was)

    def queued_on(self, connection) -> bool:
        """Still waiting for the commit? A rolled-back transaction drops its callbacks, and these notes with them."""
        queued = connection.run_on_commit
        return not self.settled and any(callback == self.settle for _sids, callback, _robust in queued)

    def settle(self) -> None:
        self.settled = True
        connection = transaction.get_connection(self.using)
        if getattr(connection, PENDING, None) is self:
            setattr(connection, PENDING, None)
        users = get_user_model().objects.in_bulk({user for user, _ in self.before})
        apps = get_application_model().objects.in_bulk({app for _, app in self.before})
        for (user_id, app_id), was in self.before.items():
            user, app = users.get(user_id), apps.get(app_id)
            if user is None or app is None:
                continue  # deleted with the change: nothing of theirs is left to end
            now = held(user_id, app_id)
            assignment_lost = app.assignment_required and was.assigned and not now.assigned
            if was.roles - now.roles or assignment_lost:
                access_reduced.send(sender=_Changes, user=user, app=app, assignment_lost=assignment_lost)


def _changes(using: str) -> _Changes:
    """This transaction's notes, begun (and their settling queued for the commit) at the first change."""
    connection = transaction.get_connection(using)
    changes = getattr(connection, PENDING, None)
    if changes is None or not changes.queued_on(connection):
        changes = _Changes(using)
        setattr(connection, PENDING, changes)
        transaction.on_commit(changes.settle, using=using)
    return changes


def _before_delete(sender, instance, using, **kwargs) -> None:
    # Model and QuerySet deletes (cascades too) run in a transaction: settled when it commits.
    _changes(using).note(PAIRS_OF[sender](instance))


def _before_save(sender, instance, using, raw=False, **kwargs) -> None:
    if raw or instance._state.adding:
        return  # a new row only adds
    previous = sender.objects.using(using).filter(pk=instance.pk).first()
    if previous is not None:
        setattr(instance, BEFORE, {pair: held(*pair) for pair in PAIRS_OF[sender](previous)})


def _after_save(sender, instance, using, **kwargs) -> None:
    before = instance.__dict__.pop(BEFORE, None)
    if not before:
        return
    if not transaction.get_connection(using).in_atomic_block:
        changes = _Changes(using)  # autocommit: the save is committed already
        changes.merge(before)
        changes.settle()
        return
    _changes(using).merge(before)


def connect() -> None:
    for model in PAIRS_OF:
        uid = f"directory-changes-{model.__name__}"
        pre_delete.connect(_before_delete, sender=model, dispatch_uid=uid)
        pre_save.connect(_before_save, sender=model, dispatch_uid=uid)
        post_save.connect(_after_save, sender=model, dispatch_uid=uid)
