"""Registering SAML service providers in the admin (pasted, uploaded, or fetched from a real loopback SP),
metadata it must refuse with a form error (never a 500), superusers only, the refetch action, and
`manage.py register_saml_sp`. Each test drives the admin as people do, with Django's test client."""

from __future__ import annotations

import re

import pytest
from django.contrib.admin.models import LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from oidc.models import Client
from saml.models import SamlApp, ServiceProvider
from tests.accounts.test_admin_least_privilege import grant, root  # noqa: F401 (fixtures)
from tests.directory.directory import NO_ROLES_OR_ASSIGNMENTS
from tests.saml.service_provider import ServiceProvider as SP
from tests.users import add_totp, sign_in_admin

pytestmark = pytest.mark.django_db

ADD = "/admin/saml/samlapp/add/"
LIST = "/admin/saml/samlapp/"
READ_ONLY = "Only a superuser can change SAML apps"


@pytest.fixture
def admin(root):  # noqa: F811
    return sign_in_admin(root)


@pytest.fixture
def wiki(idp_metadata) -> SP:
    return SP(base_url="https://wiki.example.com", idp_metadata=idp_metadata)


def add_form(name: str = "Wiki", **sp_fields) -> dict:
    data = {
        "name": name,
        "service_provider-TOTAL_FORMS": "1",
        "service_provider-INITIAL_FORMS": "0",
        "service_provider-MIN_NUM_FORMS": "1",
        "service_provider-MAX_NUM_FORMS": "1",
        "service_provider-0-metadata_xml": "",
        "service_provider-0-metadata_url": "",
        "service_provider-0-name_id_format": ServiceProvider.NameIdFormat.PERSISTENT,
        "service_provider-0-release_email": "on",
        "service_provider-0-release_name": "on",
        "service_provider-0-release_roles": "on",
        "_save": "Save",
    }
    data.update({f"service_provider-0-{key}": value for key, value in sp_fields.items()})
    return data


def change_form(sp: ServiceProvider, **sp_fields) -> dict:
    data = add_form(sp.app.name, metadata_xml=sp.metadata_xml, metadata_url=sp.metadata_url)
    data.update(
        {
            "service_provider-INITIAL_FORMS": "1",
            "service_provider-0-id": str(sp.pk),
            "service_provider-0-app": str(sp.app.pk),
            **NO_ROLES_OR_ASSIGNMENTS,
        }
    )
    data.update({f"service_provider-0-{key}": value for key, value in sp_fields.items()})
    return data


def errors(response) -> str:
    """The form's error lists as text (what the admin sees next to the fields)."""
    assert response.status_code == 200, response.status_code
    html = response.content.decode()
    return " ".join(re.findall(r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', html, re.S))


def registered(entity_id: str) -> ServiceProvider:
    return ServiceProvider.objects.select_related("app").get(entity_id=entity_id)


# --- registering ----------------------------------------------------------------------------------


def test_a_superuser_registers_an_sp_by_pasting_its_metadata(admin, wiki):
    response = admin.post(ADD, add_form(metadata_xml=wiki.metadata_xml(), idp_initiated="on"))
    assert response.status_code == 302, errors(response)
    sp = registered(wiki.entity_id)
    assert sp.app.name == "Wiki" and sp.app.protocol == Client.Protocol.SAML and sp.idp_initiated
    assert sp.metadata_xml == wiki.metadata_xml() and not sp.release_groups
    assert not sp.app.is_usable(None)  # never an OAuth client
    page = admin.get(f"/admin/saml/samlapp/{sp.app.pk}/change/").content.decode()
    assert wiki.entity_id in page and wiki.acs_url in page and f"HTTP-Redirect {wiki.slo_url}" in page


def test_a_superuser_registers_an_sp_by_uploading_its_metadata(admin, wiki):
    upload = SimpleUploadedFile("wiki.xml", wiki.metadata_xml().encode(), content_type="application/xml")
    response = admin.post(ADD, add_form(metadata_file=upload))
    assert response.status_code == 302, errors(response)
    assert registered(wiki.entity_id).metadata_url == ""


def test_a_superuser_registers_an_sp_from_its_metadata_url(admin, idp_metadata):
    with SP.serve(idp_metadata=idp_metadata, sign_requests=True, soap_slo=True) as served:
        url = f"{served.base_url}/metadata/"
        response = admin.post(ADD, add_form(metadata_url=url))
        assert response.status_code == 302, errors(response)
        sp = registered(served.entity_id)
        assert sp.metadata_url == url and sp.metadata_xml == served.metadata_xml()
        page = admin.get(f"/admin/saml/samlapp/{sp.app.pk}/change/").content.decode()
    assert f"SOAP {served.slo_url}soap/" in page
    assert re.search(r"Signs its requests</dt><dd>yes", page)


def test_a_metadata_url_that_fails_is_a_form_error(admin, idp_metadata):
    with SP.serve(idp_metadata=idp_metadata) as served:
        response = admin.post(ADD, add_form(metadata_url=f"{served.base_url}/nothing-here/"))
    assert "answered HTTP 404" in errors(response)
    assert not SamlApp.objects.exists()


def test_the_add_page_shows_the_settings_and_no_roles_yet(admin):
    page = admin.get(ADD)
    html = page.content.decode()
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in html
    assert 'name="service_provider-0-metadata_xml"' in html and 'name="service_provider-0-metadata_file"' in html
    assert "app_roles-TOTAL_FORMS" not in html


def _without_acs(xml: str) -> str:
    return re.sub(r"<md:AssertionConsumerService [^>]*/>", "", xml)


def _two_entities(first: str, second: str) -> str:
    return (
        '<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">'
        f"{first}{second}</md:EntitiesDescriptor>"
    )


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        (lambda sp, other: '<!DOCTYPE x [<!ENTITY e "e">]>' + sp.metadata_xml(), "cannot read"),
        (lambda sp, other: _without_acs(sp.metadata_xml()), "no AssertionConsumerService"),
        (lambda sp, other: other("http://wiki.example.com").metadata_xml(), "https"),
        (
            lambda sp, other: _two_entities(sp.metadata_xml(), other("https://crm.example.com").metadata_xml()),
            "exactly one",
        ),
        (lambda sp, other: "this is not metadata <at all", "cannot read"),
        (lambda sp, other: "   ", "The metadata is empty"),
    ],
    ids=["dtd", "no-acs", "http-acs", "two-entities", "garbage", "empty"],
)
def test_unusable_metadata_is_a_form_error(admin, wiki, idp_metadata, bad, says):
    def other(base_url: str) -> SP:
        return SP(base_url=base_url, idp_metadata=idp_metadata)

    response = admin.post(ADD, add_form(metadata_xml=bad(wiki, other)))
    assert says in errors(response)
    assert not SamlApp.objects.exists() and not ServiceProvider.objects.exists()


def test_http_acs_on_loopback_is_accepted(admin, idp_metadata):
    local = SP(base_url="http://127.0.0.1:8123", idp_metadata=idp_metadata)
    assert admin.post(ADD, add_form(metadata_xml=local.metadata_xml())).status_code == 302


def test_an_entity_id_already_registered_is_refused(admin, sp):
    response = admin.post(ADD, add_form(name="Copy", metadata_xml=sp.metadata_xml()))
    assert "Another app is registered with the entity id" in errors(response)
    assert list(SamlApp.objects.values_list("name", flat=True)) == ["Wiki"]


def test_two_sources_at_once_are_refused(admin, wiki):
    upload = SimpleUploadedFile("wiki.xml", wiki.metadata_xml().encode())
    response = admin.post(ADD, add_form(metadata_xml=wiki.metadata_xml(), metadata_file=upload))
    assert "Give the metadata one way" in errors(response)


def test_a_superuser_changes_the_settings_and_the_metadata(admin, sp, idp_metadata):
    moved = SP(base_url="https://wiki.example.com", idp_metadata=idp_metadata, soap_slo=True)
    form = change_form(
        sp.registered, metadata_xml=moved.metadata_xml(), name_id_format=ServiceProvider.NameIdFormat.EMAIL
    )
    response = admin.post(f"/admin/saml/samlapp/{sp.registered.app.pk}/change/", form)
    assert response.status_code == 302, errors(response)
    stored = registered(sp.entity_id)
    assert stored.metadata_xml == moved.metadata_xml() and stored.name_id_format == ServiceProvider.NameIdFormat.EMAIL
    assert SamlApp.objects.get().protocol == Client.Protocol.SAML


def test_the_change_page_refuses_metadata_of_another_registered_sp(admin, make_sp):
    wiki, crm = make_sp(), make_sp("https://crm.example.com", name="CRM")
    response = admin.post(
        f"/admin/saml/samlapp/{wiki.registered.app.pk}/change/",
        change_form(wiki.registered, metadata_xml=crm.metadata_xml()),
    )
    assert "Another app is registered" in errors(response)
    assert registered(wiki.entity_id).metadata_xml == wiki.metadata_xml()


def test_saml_apps_are_not_relying_apps(admin, sp):
    relying = admin.get("/admin/oidc/client/").content.decode()
    assert f"/admin/oidc/client/{sp.registered.app.pk}/change/" not in relying
    assert admin.get(f"/admin/oidc/client/{sp.registered.app.pk}/change/").status_code == 302  # "doesn't exist"
    listed = admin.get(LIST + "?q=wiki.example").content.decode()
    assert sp.entity_id in listed and f"/admin/saml/samlapp/{sp.registered.app.pk}/change/" in listed


# --- superusers only ------------------------------------------------------------------------------


@pytest.fixture
def helpdesk(make_user):
    staff = grant(make_user("helpdesk@example.com", is_staff=True), "view_samlapp", "change_samlapp", "add_samlapp")
    add_totp(staff)
    return sign_in_admin(staff)


def test_helpdesk_sees_a_saml_app_read_only_and_cannot_change_it(helpdesk, sp):
    change = f"/admin/saml/samlapp/{sp.registered.app.pk}/change/"
    page = helpdesk.get(change)
    html = page.content.decode()
    assert page.status_code == 200 and READ_ONLY in html
    assert 'name="service_provider-0-metadata_xml"' not in html and 'name="_save"' not in html
    refused = helpdesk.post(
        change, change_form(sp.registered, idp_initiated="on", name_id_format=ServiceProvider.NameIdFormat.EMAIL)
    )
    assert refused.status_code == 403 and READ_ONLY in refused.content.decode()
    stored = registered(sp.entity_id)
    assert not stored.idp_initiated and stored.name_id_format == ServiceProvider.NameIdFormat.PERSISTENT


def test_helpdesk_cannot_add_or_refetch_a_saml_app(helpdesk, wiki, sp):
    assert helpdesk.post(ADD, add_form(name="Collector", metadata_xml=wiki.metadata_xml())).status_code == 403
    assert not SamlApp.objects.filter(name="Collector").exists()
    helpdesk.post(LIST, {"action": "refetch_metadata", "_selected_action": [sp.registered.app.pk]})
    assert not LogEntry.objects.exists()


# --- fetching again -------------------------------------------------------------------------------


def test_the_refetch_action_updates_from_the_url_and_is_audited(admin, idp_metadata, root):  # noqa: F811
    with SP.serve(idp_metadata=idp_metadata) as served:
        url = f"{served.base_url}/metadata/"
        sp = ServiceProvider.objects.create(
            app=SamlApp.objects.create(name="Wiki"), entity_id=served.entity_id, metadata_xml="", metadata_url=url
        )
        unsourced = ServiceProvider.objects.create(
            app=SamlApp.objects.create(name="Pasted"), entity_id="https://pasted.example/", metadata_xml="<x/>"
        )
        response = admin.post(
            LIST, {"action": "refetch_metadata", "_selected_action": [sp.app.pk, unsourced.app.pk]}, follow=True
        )
        page = response.content.decode()
        assert "Wiki: the metadata was updated." in page and "Pasted: no metadata URL to fetch from." in page
        assert ServiceProvider.objects.get(pk=sp.pk).metadata_xml == served.metadata_xml()
        entry = LogEntry.objects.get()
        assert entry.user_id == root.pk and entry.object_id == str(sp.app.pk) and url in entry.change_message
        again = admin.post(LIST, {"action": "refetch_metadata", "_selected_action": [sp.app.pk]}, follow=True)
        assert "Wiki: the metadata has not changed." in again.content.decode()


def test_the_refetch_action_shows_errors_and_keeps_the_metadata(admin, sp):
    stored = sp.registered
    stored.metadata_url = "http://127.0.0.1:9/metadata/"  # nothing listens on the discard port
    stored.save()
    response = admin.post(LIST, {"action": "refetch_metadata", "_selected_action": [stored.app.pk]}, follow=True)
    assert "Wiki: The metadata could not be fetched" in response.content.decode()
    assert registered(sp.entity_id).metadata_xml == sp.metadata_xml() and not LogEntry.objects.exists()


def test_the_refetch_action_refuses_a_changed_entity_id(admin, idp_metadata):
    with SP.serve(idp_metadata=idp_metadata) as served:
        sp = ServiceProvider.objects.create(
            app=SamlApp.objects.create(name="Wiki"),
            entity_id="https://old.example/metadata/",
            metadata_xml="<kept/>",
            metadata_url=f"{served.base_url}/metadata/",
        )
        response = admin.post(LIST, {"action": "refetch_metadata", "_selected_action": [sp.app.pk]}, follow=True)
    assert f"it now describes {served.entity_id}" in response.content.decode()
    assert ServiceProvider.objects.get(pk=sp.pk).metadata_xml == "<kept/>"


# --- sign-ons -------------------------------------------------------------------------------------


def test_sign_ons_are_read_only(admin):
    assert admin.get("/admin/saml/signon/").status_code == 200
    assert admin.get("/admin/saml/signon/add/").status_code == 403


# --- manage.py register_saml_sp -------------------------------------------------------------------


def test_the_command_registers_from_a_file(wiki, tmp_path, capsys):
    path = tmp_path / "wiki.xml"
    path.write_text(wiki.metadata_xml())
    call_command(
        "register_saml_sp", "--metadata-file", str(path), "--name", "Wiki", "--nameid", "email", "--assignment-required"
    )
    sp = registered(wiki.entity_id)
    assert sp.name_id_format == ServiceProvider.NameIdFormat.EMAIL and sp.app.assignment_required
    assert sp.app.protocol == Client.Protocol.SAML and f"Registered {wiki.entity_id}" in capsys.readouterr().out
    call_command("register_saml_sp", "--metadata-file", str(path), "--release-groups")  # again: updated, not doubled
    assert ServiceProvider.objects.get().release_groups and SamlApp.objects.get().name == "Wiki"


def test_the_command_registers_from_a_url(idp_metadata):
    with SP.serve(idp_metadata=idp_metadata) as served:
        url = f"{served.base_url}/metadata/"
        call_command("register_saml_sp", "--metadata-url", url, "--name", "Served", "--idp-initiated")
    sp = registered(served.entity_id)
    assert sp.metadata_url == url and sp.idp_initiated and sp.app.name == "Served"


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["--metadata-file", "/nonexistent/wiki.xml"], "No such file"),
        (["--metadata-url", "http://wiki.example.com/metadata/"], "https"),
        (["--metadata-url", "http://127.0.0.1:9/metadata/"], "could not be fetched"),
        (["--metadata-file", "GARBAGE"], "cannot read"),
    ],
    ids=["missing-file", "http-url", "unreachable", "garbage"],
)
def test_the_command_says_what_is_wrong(arguments, says, tmp_path):
    if "GARBAGE" in arguments:
        (tmp_path / "bad.xml").write_text("<not metadata")
        arguments = ["--metadata-file", str(tmp_path / "bad.xml")]
    with pytest.raises(CommandError, match=says):
        call_command("register_saml_sp", *arguments)
    assert not ServiceProvider.objects.exists()
