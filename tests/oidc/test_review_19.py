"""Issue 19 review (attacker's view): the sign-in page's app name and consent's domain."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.urls import reverse


def signin_page_for(client, next_url: str):
    return client.get(reverse("accounts:signin") + "?" + urlencode({"next": next_url}))


@pytest.mark.parametrize("client_id", ["a\x00b", "\x00", "%00"])
def test_a_nul_byte_in_the_client_id_of_next_is_no_500(db, client, client_id):
    """Anyone can link to the sign-in page with this next: PostgreSQL refuses NUL in a string literal
    (ValueError), which was a 500 on the sign-in page itself."""
    next_url = "/oauth/authorize/?" + urlencode({"client_id": client_id, "response_type": "code"})
    response = signin_page_for(client, next_url)
    assert response.status_code == 200
    assert b"signin-app" not in response.content
