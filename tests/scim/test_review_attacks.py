"""Attacks found in review of the SCIM server: what a holder of a token (or a neighbour of one) tried
that used to work, or answered a 500, and must not."""

from __future__ import annotations

import pytest

from tests.scim.helpers import Scim, make_client

pytestmark = pytest.mark.django_db


def test_wrong_tokens_from_a_shared_address_do_not_lock_out_the_right_client(settings):
    """Entra ID and Okta provision from shared cloud addresses: anyone's tenant pointed at us with a
    wrong token must not hold up a real client's deprovisioning from the same address."""
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "scim-token-ip": "3/h"}
    _client, token = make_client()
    guesser = Scim("scim_" + "A" * 43)
    assert [guesser.get("Users").status_code for _ in range(4)] == [401, 401, 401, 429]
    assert Scim(token).get("Users").status_code == 200
    assert guesser.get("Users").status_code == 429


@pytest.mark.parametrize("resource", ["Users", "Groups"])
def test_a_start_index_past_any_page_is_an_empty_page_not_a_500(resource):
    scim = Scim(make_client()[1])
    listed = scim.get(resource, startIndex="99999999999999999999")
    assert listed.status_code == 200 and listed.json()["Resources"] == []
