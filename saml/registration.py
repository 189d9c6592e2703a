"""Registering a service provider from its metadata: pasted, uploaded, or fetched once from a URL.
The admin and `manage.py register_saml_sp` both come here."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from django.db import transaction

from oidc.models import uri_problem

from .metadata import MetadataProblem, SpDescription, describe
from .models import SamlApp, ServiceProvider

MAX_METADATA_BYTES = 512 * 1024


def fetch_metadata(url: str) -> str:
    """The metadata at `url`, fetched by an admin's say-so: https (http only on loopback), no
    redirects, a short timeout and a size cap (an admin's typo must not make us fetch anything big)."""
    if problem := uri_problem(url):
        raise MetadataProblem(str(problem))
    try:
        with requests.get(url, timeout=10, allow_redirects=False, stream=True) as response:
            if response.status_code != 200:
                raise MetadataProblem(f"{urlsplit(url).netloc} answered HTTP {response.status_code}.")
            body = response.raw.read(MAX_METADATA_BYTES + 1, decode_content=True)
    except requests.RequestException as error:
        raise MetadataProblem(f"The metadata could not be fetched ({type(error).__name__}).") from error
    if len(body) > MAX_METADATA_BYTES:
        raise MetadataProblem("The metadata is larger than 512 KiB.")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MetadataProblem("The metadata is not UTF-8 text.") from error


def checked(xml: str, *, instead_of: ServiceProvider | None = None) -> SpDescription:
    """The description of acceptable metadata, or MetadataProblem (also for an entity id another SP has)."""
    description = describe(xml)
    taken = ServiceProvider.objects.filter(entity_id=description.entity_id)
    if instead_of is not None and instead_of.pk:
        taken = taken.exclude(pk=instead_of.pk)
    if taken.exists():
        raise MetadataProblem(f"Another app is registered with the entity id {description.entity_id}.")
    return description


@transaction.atomic
def register(
    name: str, xml: str, *, metadata_url: str = "", assignment_required: bool | None = None, **settings
) -> ServiceProvider:
    """A new SAML app with its service provider (or the existing one with this entity id, updated).
    `settings` are ServiceProvider fields (name_id_format, release_groups, idp_initiated, ...)."""
    description = describe(xml)
    sp = ServiceProvider.objects.select_related("app").filter(entity_id=description.entity_id).first()
    if sp is None:
        sp = ServiceProvider(app=SamlApp(name=name), entity_id=description.entity_id)
    if name:
        sp.app.name = name
    if assignment_required is not None:
        sp.app.assignment_required = assignment_required
    sp.app.save()
    sp.metadata_xml = xml
    sp.metadata_url = metadata_url
    for field, value in settings.items():
        setattr(sp, field, value)
    sp.app_id = sp.app.pk
    sp.full_clean(exclude=["app"])
    sp.save()
    return sp
