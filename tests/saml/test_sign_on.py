"""SP-initiated sign-on through the Django test client, answered to a real pysaml2 SP."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.saml.pages import follow, posted


def test_redirect_binding_sign_on_gives_a_signed_response_the_sp_accepts(sp, signed_in_client, user):
    request_id, url = sp.redirect_request(relay_state="/wiki/home")
    response = follow(signed_in_client, url)
    assert response.status_code == 200
    fields = posted(response)
    assert fields["RelayState"] == "/wiki/home"
    sign_on = sp.parse_response(fields["SAMLResponse"], request_id)
    assert sign_on.name_id and sign_on.name_id != user.email
    assert sign_on.authn_context_class_ref == "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"


def test_post_binding(sp, signed_in_client):
    request_id, action, fields = sp.post_request()
    response = signed_in_client.post(urlsplit(action).path, fields)
    assert response.status_code == 303
    answer = follow(signed_in_client, response["Location"])
    assert sp.parse_response(posted(answer)["SAMLResponse"], request_id).name_id


def test_attributes(make_sp, signed_in_client, user):
    user.display_name = "Ada Lovelace"
    user.save()
    sp = make_sp(settings={"release_groups": True})
    request_id, url = sp.redirect_request()
    answer = follow(signed_in_client, url)
    sign_on = sp.parse_response(posted(answer)["SAMLResponse"], request_id)
    assert sign_on.attributes_by_name["urn:oid:0.9.2342.19200300.100.1.3"] == [user.email]
    assert sign_on.attributes_by_name["urn:oid:2.16.840.1.113730.3.1.241"] == ["Ada Lovelace"]


# --- who must sign in, and how ----------------------------------------------------------------------


def test_an_anonymous_browser_is_sent_to_sign_in_and_nothing_is_stored(sp, client, user):
    from tests.saml.pages import local

    _id, url = sp.redirect_request()
    response = client.get(local(url))
    assert response.status_code == 303
    response = client.get(response["Location"])
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=")
    assert "sessionid" not in client.cookies  # anonymous requests create no session


def test_after_signing_in_the_request_is_answered(sp, client, user):
    from tests.saml.pages import local
    from tests.users import PASSWORD

    request_id, url = sp.redirect_request()
    signin = client.get(client.get(local(url))["Location"])["Location"]
    next_url = signin.split("next=", 1)[1]
    from urllib.parse import unquote

    response = client.post(signin, {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == unquote(next_url)
    answer = follow(client, response["Location"])
    assert sp.parse_response(posted(answer)["SAMLResponse"], request_id).name_id


def test_force_authn_asks_for_a_fresh_sign_in(sp, signed_in_client, user):
    from tests.saml.pages import sign_on

    _id, page = sign_on(signed_in_client, sp, force_authn=True)
    assert page.request["PATH_INFO"] == "/accounts/login/" and "prompt=login" in page.request["QUERY_STRING"]


def test_is_passive_without_a_session_answers_no_passive(sp, client):
    from saml2.response import StatusNoPassive

    from tests.saml.pages import sign_on

    request_id, page = sign_on(client, sp, is_passive=True)
    assert page.status_code == 200
    with pytest.raises(StatusNoPassive):
        sp.parse_response(posted(page)["SAMLResponse"], request_id)


def test_mfa_requested_of_a_password_only_person_is_no_authn_context(sp, signed_in_client):
    from saml2.response import StatusNoAuthnContext

    from tests.saml.pages import sign_on

    request_id, page = sign_on(signed_in_client, sp, authn_context=["https://refeds.org/profile/mfa"])
    with pytest.raises(StatusNoAuthnContext):
        sp.parse_response(posted(page)["SAMLResponse"], request_id)


def test_mfa_requested_of_a_person_with_an_authenticator_app_is_a_step_up(sp, signed_in_client, user):
    from tests.saml.pages import sign_on
    from tests.users import add_totp

    add_totp(user)
    _id, page = sign_on(signed_in_client, sp, authn_context=["https://refeds.org/profile/mfa"])
    assert page.request["PATH_INFO"].startswith("/accounts/mfa/")


def test_only_unknown_classes_requested_is_no_authn_context(sp, signed_in_client):
    from saml2.response import StatusNoAuthnContext

    from tests.saml.pages import sign_on

    request_id, page = sign_on(signed_in_client, sp, authn_context=["urn:example:smartcard"], comparison="exact")
    with pytest.raises(StatusNoAuthnContext):
        sp.parse_response(posted(page)["SAMLResponse"], request_id)


def test_password_protected_transport_requested_is_met_by_a_password(sp, signed_in_client):
    from tests.saml.pages import sign_on

    ppt = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
    request_id, page = sign_on(signed_in_client, sp, authn_context=[ppt])
    assert sp.parse_response(posted(page)["SAMLResponse"], request_id).authn_context_class_ref == ppt


# --- what the SP learns -------------------------------------------------------------------------------


def test_email_name_id(make_sp, signed_in_client, user):
    from saml.models import ServiceProvider
    from tests.saml.pages import sign_on

    sp = make_sp(settings={"name_id_format": ServiceProvider.NameIdFormat.EMAIL}, name_id_format=None)
    request_id, page = sign_on(signed_in_client, sp)
    result = sp.parse_response(posted(page)["SAMLResponse"], request_id)
    assert result.name_id == user.email
    assert result.name_id_format == ServiceProvider.NameIdFormat.EMAIL


def test_a_name_id_format_the_sp_is_not_set_up_for_is_invalid_name_id_policy(make_sp, signed_in_client):
    from saml2.response import StatusInvalidNameidPolicy

    from tests.saml.pages import sign_on

    sp = make_sp(name_id_format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress")  # registered persistent
    request_id, page = sign_on(signed_in_client, sp)
    with pytest.raises(StatusInvalidNameidPolicy):
        sp.parse_response(posted(page)["SAMLResponse"], request_id)


def test_roles_and_groups_released(make_sp, signed_in_client, user):
    from directory.models import AppRole, Assignment, Group, Membership
    from tests.saml.pages import sign_on

    sp = make_sp(settings={"release_groups": True})
    app = sp.registered.app
    editor = AppRole.objects.create(app=app, value="editor", display_name="Editor")
    Assignment.objects.create(app=app, role=editor, user=user)
    group = Group.objects.create(display_name="Writers")
    Membership.objects.create(group=group, user=user)
    request_id, page = sign_on(signed_in_client, sp)
    result = sp.parse_response(posted(page)["SAMLResponse"], request_id)
    assert result.attributes_by_name["http://schemas.microsoft.com/ws/2008/06/identity/claims/role"] == ["editor"]
    assert result.attributes_by_name["urn:oid:1.3.6.1.4.1.5923.1.5.1.1"] == [str(group.pk)]


def test_assertions_are_encrypted_for_an_sp_with_an_encryption_certificate(make_sp, signed_in_client, user):
    from tests.saml.pages import sign_on

    sp = make_sp(encryption=True)
    request_id, page = sign_on(signed_in_client, sp)
    raw = __import__("base64").b64decode(posted(page)["SAMLResponse"]).decode()
    assert "EncryptedAssertion" in raw and user.email not in raw
    result = sp.parse_response(posted(page)["SAMLResponse"], request_id)
    assert result.encrypted and result.attributes_by_name["urn:oid:0.9.2342.19200300.100.1.3"] == [user.email]


# --- assignment -------------------------------------------------------------------------------------


def test_an_app_that_requires_assignment_refuses_the_unassigned_with_a_page_and_request_denied(
    make_sp, signed_in_client, user
):
    from saml2.response import StatusRequestDenied

    from accounts.models import SecurityEvent
    from directory.models import Assignment
    from tests.saml.pages import sign_on

    sp = make_sp(settings={"assignment_required": True})
    request_id, page = sign_on(signed_in_client, sp)
    assert page.status_code == 403
    assert "have access to Wiki" in page.content.decode()
    with pytest.raises(StatusRequestDenied):
        sp.parse_response(posted(page)["SAMLResponse"], request_id)
    assert SecurityEvent.objects.filter(user=user, kind=SecurityEvent.Kind.APP_NOT_ASSIGNED).exists()

    Assignment.objects.create(app=sp.registered.app, user=user)
    request_id, page = sign_on(signed_in_client, sp)
    assert sp.parse_response(posted(page)["SAMLResponse"], request_id).name_id


# --- IdP-initiated ----------------------------------------------------------------------------------


def test_idp_initiated_sign_on_is_off_unless_turned_on(make_sp, signed_in_client):
    sp = make_sp()
    assert signed_in_client.get(f"/saml/start/{sp.registered.pk}/").status_code == 404

    sp = make_sp(base_url="https://tickets.example.com", settings={"idp_initiated": True}, allow_unsolicited=True)
    page = follow(signed_in_client, f"/saml/start/{sp.registered.pk}/")
    result = sp.parse_response(posted(page)["SAMLResponse"])
    assert result.in_response_to is None and result.name_id


# --- records ------------------------------------------------------------------------------------------


def test_a_sign_on_is_audited_recorded_and_listed_on_the_security_page(sp, signed_in_client, user):
    from accounts.models import SecurityEvent
    from saml.models import SignOn
    from tests.saml.pages import sign_on

    request_id, page = sign_on(signed_in_client, sp)
    result = sp.parse_response(posted(page)["SAMLResponse"], request_id)
    record = SignOn.objects.get(user=user)
    assert record.session_index == result.session_index and record.name_id == result.name_id
    assert SecurityEvent.objects.filter(user=user, kind=SecurityEvent.Kind.APP_SIGNED_IN, reason="Wiki").exists()
    security = signed_in_client.get("/accounts/security/").content.decode()
    assert "Apps you signed in to" in security and "Wiki" in security and "last signed in" in security


def test_responses_and_refusals_are_counted(sp, signed_in_client, client):
    from prometheus_client import REGISTRY

    def count(name: str, **labels) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    from tests.saml.pages import sign_on

    issued = count("identity_saml_responses_total", outcome="issued")
    no_passive = count("identity_saml_responses_total", outcome="NoPassive")
    unknown = count("identity_saml_refusals_total", reason="malformed")
    sign_on(signed_in_client, sp)
    sign_on(client, sp, is_passive=True)
    client.get("/saml/sso/?SAMLRequest=not-a-request")
    assert count("identity_saml_responses_total", outcome="issued") == issued + 1
    assert count("identity_saml_responses_total", outcome="NoPassive") == no_passive + 1
    assert count("identity_saml_refusals_total", reason="malformed") == unknown + 1


def test_an_unverified_address_is_never_released(make_sp, signed_in_client, user):
    from saml2.response import StatusRequestDenied

    from saml.models import ServiceProvider
    from tests.saml.pages import sign_on

    user.email_verified = False
    user.save()
    persistent = make_sp()
    request_id, page = sign_on(signed_in_client, persistent)
    assert (
        "urn:oid:0.9.2342.19200300.100.1.3"
        not in persistent.parse_response(posted(page)["SAMLResponse"], request_id).attributes_by_name
    )
    by_email = make_sp(
        base_url="https://mail.example.com",
        settings={"name_id_format": ServiceProvider.NameIdFormat.EMAIL},
        name_id_format=None,
    )
    request_id, page = sign_on(signed_in_client, by_email)
    with pytest.raises(StatusRequestDenied):
        by_email.parse_response(posted(page)["SAMLResponse"], request_id)
