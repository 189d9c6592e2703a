"""docs/authorization.md's example app, run as written: authlib's OAuth2Session through the code flow
(PKCE, state, nonce), the real ID token verified against the published JWKS, then `roles` read."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.directory.directory import app, assign, signed_in
from tests.directory.transport import DjangoTransport
from tests.oidc.relying_party import REDIRECT_URI

pytestmark = pytest.mark.django_db

DOC = Path(__file__).resolve().parents[2] / "docs" / "authorization.md"


def example() -> dict:
    """The code between the doc's example markers, executed: its functions by name."""
    found = re.search(r"<!-- example:start -->\n```python\n(.*?)```\n<!-- example:end -->", DOC.read_text(), re.S)
    assert found, "docs/authorization.md lost its example"
    namespace: dict = {}
    exec(compile(found.group(1), str(DOC), "exec"), namespace)  # noqa: S102  (our own documentation)
    return namespace


@pytest.mark.parametrize(("role", "may_edit"), [("editor", True), ("reader", False)])
def test_the_documented_app_reads_roles_from_a_verified_id_token(user, role, may_edit):
    wiki = app("Wiki", "editor", "reader")
    assign(wiki, user, role)
    code = example()
    browser = signed_in(user.email)

    client, url, kept = code["start_sign_in"](wiki.client.client_id, wiki.secret, REDIRECT_URI)
    client.mount("http://testserver/", DjangoTransport())
    callback = browser.get(url.removeprefix("http://testserver"))
    assert callback.status_code == 302 and callback["Location"].startswith(REDIRECT_URI)
    claims = code["finish_sign_in"](client, callback["Location"], kept)

    assert claims["roles"] == [role]
    assert code["may_edit"](claims) is may_edit
