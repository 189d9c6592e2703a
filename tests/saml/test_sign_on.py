"""SP-initiated sign-on through the Django test client, answered to a real pysaml2 SP."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import urlsplit


def posted(response) -> dict:
    """The fields of the auto-posting form on our page (what the browser sends to the ACS)."""
    html = response.content.decode()
    return {
        name: unescape(value) for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html)
    }


def follow_to_sp(client, url: str):
    response = client.get(url)
    while response.status_code in (302, 303):
        location = response["Location"]
        response = client.get(location)
    return response


def test_redirect_binding_sign_on_gives_a_signed_response_the_sp_accepts(sp, signed_in_client, user):
    request_id, url = sp.redirect_request(relay_state="/wiki/home")
    response = follow_to_sp(signed_in_client, urlsplit(url).path + "?" + urlsplit(url).query)
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
    answer = follow_to_sp(signed_in_client, response["Location"])
    assert sp.parse_response(posted(answer)["SAMLResponse"], request_id).name_id


def test_attributes(make_sp, signed_in_client, user):
    user.display_name = "Ada Lovelace"
    user.save()
    sp = make_sp(settings={"release_groups": True})
    request_id, url = sp.redirect_request()
    answer = follow_to_sp(signed_in_client, urlsplit(url).path + "?" + urlsplit(url).query)
    sign_on = sp.parse_response(posted(answer)["SAMLResponse"], request_id)
    assert sign_on.attributes_by_name["urn:oid:0.9.2342.19200300.100.1.3"] == [user.email]
    assert sign_on.attributes_by_name["urn:oid:2.16.840.1.113730.3.1.241"] == ["Ada Lovelace"]
