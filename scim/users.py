"""People as SCIM Users. `id` is the person's subject (never the database id), `userName` their
sign-in address, `active` whether they may sign in. Changes go through accounts' flows: a new address
is a credential change, `active: false` deactivates (sessions ended, app tokens revoked, apps told),
DELETE is the account-deletion flow; each audited with the client's name.

The attributes we do not act on (nickName, phoneNumbers, the enterprise extension, ...) are kept for
the client as it sent them and given back; a password is dropped and never stored or applied.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from scim2_models import EnterpriseUser, InvalidValueException, Meta, UniquenessException, User

from accounts.audit import record_event
from accounts.flows.email import email_changed_by_admin
from accounts.flows.lifecycle import deactivate_user, deactivated_by_an_admin, delete_user, reactivate_user
from accounts.models import SecurityEvent, normalize_email
from accounts.models import User as Person

from .filters import Attribute, Attributes, uuid_equal
from .models import ProvisionedUser, ScimClient
from .versions import version_of

UserResource = User[EnterpriseUser]
Event = SecurityEvent.Kind

# What the columns hold; the rest of a client's User is kept in ProvisionedUser.attributes.
MAPPED = {"schemas", "id", "externalId", "meta", "userName", "displayName", "active", "groups", "password"}


def _by_address(value: str) -> Q:
    address = normalize_email(value).lower()
    return Q(email__lower=address) | Q(scim__attributes__emails__contains=[{"value": value}])


USER_ATTRIBUTES: Attributes = {
    "username": Attribute(equal=lambda value: Q(email__lower=normalize_email(value).lower()), sort="email"),
    "emails.value": Attribute(equal=_by_address),
    "emails": Attribute(equal=_by_address),
    "externalid": Attribute(equal=lambda value: Q(scim__external_id=value), sort="scim__external_id"),
    "id": Attribute(equal=uuid_equal("subject"), sort="subject"),
    "displayname": Attribute(equal=lambda value: Q(display_name__iexact=value), sort="display_name"),
    "meta.lastmodified": Attribute(column="updated_at", sort="updated_at"),
    "meta.created": Attribute(column="date_joined", sort="date_joined"),
}


def represent(person: Person, groups: list[Any]) -> dict[str, Any]:
    """The SCIM User of a person, as a client that sees `groups` (of theirs) is shown it.

    A person provisioned through SCIM shows the emails and name the client sent (they may name
    other addresses beside the sign-in one); anyone else, their address and display name."""
    record = getattr(person, "scim", None)
    kept: dict[str, Any] = dict(record.attributes) if record is not None else {}
    if record is None:
        kept["emails"] = [{"value": person.email, "type": "work", "primary": True}]
        if person.display_name:
            kept["name"] = {"formatted": person.display_name}
    shown: dict[str, Any] = {
        "schemas": [str(UserResource.__schema__)],
        **kept,
        "id": str(person.subject),
        "userName": person.email,
        "active": person.is_active,
    }
    if record is not None and record.external_id:
        shown["externalId"] = record.external_id
    if person.display_name:
        shown["displayName"] = person.display_name
    if groups:
        shown["groups"] = [
            {"value": str(group.id), "display": group.display_name, "$ref": f"Groups/{group.id}", "type": "direct"}
            for group in groups
        ]
    extension = str(EnterpriseUser.__schema__)
    if extension in shown and extension not in shown["schemas"]:
        shown["schemas"].append(extension)
    shown["meta"] = {
        "resourceType": "User",
        "created": person.date_joined.isoformat(),
        "lastModified": person.updated_at.isoformat(),
        "version": version_of(shown),
    }
    return shown


def to_resource(person: Person, groups: list[Any]) -> Any:
    resource = UserResource.model_validate(represent(person, groups))
    resource.meta = Meta.model_validate(resource.meta.model_dump() if resource.meta else {})
    return resource


def _wanted(resource: Any) -> dict[str, Any]:
    """What a client's User asks for: our columns' values, and the attributes kept for it."""
    sent = resource.model_dump()
    address = normalize_email(sent.get("userName") or "")
    try:
        validate_email(address)
    except ValidationError:
        raise InvalidValueException(detail="userName must be the person's email address.") from None
    name = sent.get("name") or {}
    display_name = sent.get("displayName") or name.get("formatted") or ""
    if not display_name and (name.get("givenName") or name.get("familyName")):
        display_name = " ".join(part for part in (name.get("givenName"), name.get("familyName")) if part)
    external_id = sent.get("externalId") or ""
    if len(display_name) > 150 or len(external_id) > 200:
        raise InvalidValueException(detail="displayName is at most 150 characters, externalId at most 200.")
    return {
        "email": address,
        "display_name": display_name,
        # Leaving `active` out (or removing it) changes nothing: only false deactivates, only true reactivates.
        "is_active": sent.get("active"),
        "external_id": external_id,
        "attributes": {key: value for key, value in sent.items() if key not in MAPPED},
    }


def _taken(address: str, person: Person | None = None) -> bool:
    others = Person.objects.filter(email__lower=address.lower())
    return (others.exclude(pk=person.pk) if person is not None else others).exists()


def create(client: ScimClient, resource: Any, request) -> Person:
    """A new account with no password (it signs in by a mailed reset link, a passkey or a provider);
    the address counts as verified: the provisioning system vouches for it."""
    wanted = _wanted(resource)
    if _taken(wanted["email"]):
        raise UniquenessException(detail="An account with this userName already exists.")
    try:
        with transaction.atomic():
            person = Person.objects.create_user(
                wanted["email"],
                password=None,
                display_name=wanted["display_name"],
                email_verified=True,
                is_active=wanted["is_active"] is not False,
            )
            ProvisionedUser.objects.create(
                user=person, client=client, external_id=wanted["external_id"], attributes=wanted["attributes"]
            )
            record_event(request, Event.SCIM_CREATED, person, provisioner=client.name)
    except IntegrityError:  # the same address, created in between
        raise UniquenessException(detail="An account with this userName already exists.") from None
    return person


def update(client: ScimClient, person: Person, resource: Any, request) -> None:
    """Make the person what the client's whole new User says, through the flows that own each change."""
    wanted = _wanted(resource)
    record, _ = ProvisionedUser.objects.get_or_create(user=person)
    if wanted["email"] != person.email and _taken(wanted["email"], person):
        raise UniquenessException(detail="An account with this userName already exists.")
    changed = [
        label
        for label, differs in (
            ("userName", wanted["email"] != person.email),
            ("displayName", wanted["display_name"] != person.display_name),
            ("externalId", wanted["external_id"] != record.external_id),
            ("attributes", wanted["attributes"] != record.attributes),
        )
        if differs
    ]
    if changed:
        old_email = person.email
        person.email, person.display_name, person.email_verified = (
            wanted["email"],
            wanted["display_name"],
            person.email_verified or wanted["email"].lower() != old_email.lower(),
        )
        try:
            with transaction.atomic():
                person.save(update_fields=["email", "display_name", "email_verified"])
        except IntegrityError:
            raise UniquenessException(detail="An account with this userName already exists.") from None
        record.external_id, record.attributes = wanted["external_id"], wanted["attributes"]
        record.save(update_fields=["external_id", "attributes"])
        record_event(request, Event.SCIM_CHANGED, person, reason=",".join(changed)[:40], provisioner=client.name)
        if person.email.lower() != old_email.lower():  # another mailbox, not the same one spelled otherwise
            email_changed_by_admin(request, person, old_email, provisioner=client.name)
    if person.is_active and wanted["is_active"] is False:
        deactivate_user(person, request, provisioner=client.name)
    elif not person.is_active and wanted["is_active"] is True and not deactivated_by_an_admin(person):
        reactivate_user(person, request, provisioner=client.name)  # an admin's deactivation stays (answer: false)


def delete(client: ScimClient, person: Person, request) -> None:
    delete_user(person, request, provisioner=client.name)


def touch(person: Person) -> None:
    """The person's SCIM representation changed outside their row (their groups)."""
    Person.objects.filter(pk=person.pk).update(updated_at=timezone.now())
