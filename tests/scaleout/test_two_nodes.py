"""Any web node serves any request: each step of a sign-in, a second factor, a passkey ceremony and an
OpenID Connect flow goes to the other node than the step before (talking to the nodes directly, with
the Host header the balancer would pass), and failures on both nodes add up to one rate limit.
The nodes and nginx are started once per module (conftest.py, cluster.py)."""

from __future__ import annotations

import json
import uuid
from base64 import b64encode
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from authlib.jose import JsonWebKey, JsonWebToken

from mfa.models import Passkey
from tests.mfa.softauthn import SoftAuthenticator
from tests.oidc.relying_party import REDIRECT_URI, pkce_pair, register
from tests.scaleout.cluster import Browser, location, mfa_step, password_step
from tests.users import add_totp, totp_code

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True)]


# --- 1. Any node serves any request ------------------------------------------------------------


def test_password_on_one_node_and_totp_on_the_other_signs_in_everywhere(nodes, make_user):
    user = make_user("ada@example.com")
    device = add_totp(user)
    browser = Browser(nodes)

    status, _, response = password_step(browser, user.email, node="a")
    assert status == 302 and location(response) == "/accounts/mfa/", status
    assert not browser.signed_in("b"), "the password alone signs nobody in, on any node"
    assert browser.get("/accounts/mfa/", "b")[0] == 200  # the pending sign-in is known on b

    code = totp_code(device)
    status, page, response = mfa_step(browser, code, node="b")
    assert status == 302 and location(response) == "/accounts/", (status, page[:800])
    assert browser.signed_in("a") and browser.signed_in("b")
    assert browser.get("/accounts/security/", "a")[0] == 200

    # Signing out on one node ends the session on the other.
    token, _ = browser.form_token("/accounts/security/", "a")
    status, _, _ = browser.request("POST", "/accounts/logout/", {"csrfmiddlewaretoken": token}, node="b")
    assert status == 302
    assert not browser.signed_in("a") and not browser.signed_in("b")

    # The code used on b cannot be used again, whichever node it is sent to (the device remembers it
    # in the database, not in a worker).
    again = Browser(nodes)
    status, _, response = password_step(again, user.email, node="b")
    assert status == 302 and location(response) == "/accounts/mfa/"
    status, page, _ = mfa_step(again, code, node="a")
    assert status in (200, 400), status
    assert not again.signed_in("a") and not again.signed_in("b")


def test_oidc_code_flow_hops_between_nodes(nodes, make_user):
    user = make_user("grace@example.com")
    device = add_totp(user)
    client, secret = register("Node app", skip_authorization=True)
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid email profile",
        "state": "state-" + uuid.uuid4().hex[:8],
        "nonce": "nonce-" + uuid.uuid4().hex[:8],
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    authorize = "/oauth/authorize/?" + urlencode(params)
    browser = Browser(nodes)

    status, _, response = browser.get(authorize, "a")
    assert status == 302, status
    login = urlsplit(location(response))
    assert login.path == "/accounts/login/"
    next_url = parse_qs(login.query)["next"][0]

    status, page, response = password_step(browser, user.email, node="a", next_url=next_url)
    assert status == 302 and location(response) == "/accounts/mfa/", (status, page[:800])
    status, page, response = mfa_step(browser, totp_code(device), node="b")
    assert status == 302, (status, page[:800])
    assert location(response) == next_url

    status, page, response = browser.get(next_url, "b")
    assert status == 302, (status, page[:800])
    callback = urlsplit(location(response))
    assert f"{callback.scheme}://{callback.netloc}{callback.path}" == REDIRECT_URI
    returned = {key: values[0] for key, values in parse_qs(callback.query).items()}
    assert returned["state"] == params["state"]

    # The app's back channel: the code issued by b is redeemed at a, the token used at b.
    app = Browser(nodes)
    basic = b64encode(f"{client.client_id}:{secret}".encode()).decode()
    exchange = {
        "grant_type": "authorization_code",
        "code": returned["code"],
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    }

    def redeem(node: str):
        return app.request("POST", "/oauth/token/", exchange, headers={"Authorization": f"Basic {basic}"}, node=node)

    status, body, _ = redeem("a")
    assert status == 200, body
    tokens = json.loads(body)

    status, jwks, _ = app.get("/oauth/jwks/", "b")
    assert status == 200
    claims = JsonWebToken([client.algorithm]).decode(
        tokens["id_token"],
        JsonWebKey.import_key_set(json.loads(jwks)),  # keys from b verify a token signed on a
        claims_options={
            "iss": {"essential": True, "value": nodes.site_url},
            "aud": {"essential": True, "value": client.client_id},
            "nonce": {"essential": True, "value": params["nonce"]},
        },
    )
    claims.validate()
    assert set(claims["amr"]) >= {"pwd", "otp"}, claims

    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    status, body, _ = app.request("GET", "/oauth/userinfo/", headers=bearer, node="b")
    assert status == 200, body
    info = json.loads(body)
    assert info["sub"] == claims["sub"]
    assert info["email"] == user.email

    # The code was used up at a; b refuses it too.
    status, body, _ = redeem("b")
    assert status == 400 and json.loads(body)["error"] == "invalid_grant", body


def test_passkey_challenge_from_one_node_is_verified_on_the_other(nodes, make_user):
    user = make_user("hedy@example.com")
    authenticator = SoftAuthenticator(origin=nodes.site_url)
    handle = uuid.uuid4().bytes * 2
    credential = authenticator.new_credential(urlsplit(nodes.site_url).hostname, handle)
    Passkey.objects.create(
        user=user,
        user_handle=handle,
        credential_id=credential.id,
        public_key=credential.public_key,
        transports=["internal"],
        aaguid=str(uuid.UUID(bytes=authenticator.aaguid)),
        name="Laptop",
    )
    browser = Browser(nodes)
    browser.form_token("/accounts/login/", "a")  # the page sets the CSRF cookie the script sends back

    status, body, _ = browser.request("POST", "/accounts/passkeys/signin/options/", json_body={}, node="a")
    assert status == 200, body
    options = json.loads(body)
    assert options["rpId"] == "127.0.0.1"

    status, body, _ = browser.request(
        "POST", "/accounts/passkeys/signin/", json_body={"credential": authenticator.get(options)}, node="b"
    )
    assert status == 200, body
    assert json.loads(body) == {"redirect": "/accounts/"}
    assert browser.signed_in("a") and browser.signed_in("b")

    # The challenge was used up on b: the same assertion is refused on a.
    replay = Browser(nodes)
    replay.cookies = {k: v for k, v in browser.cookies.items() if k == "csrftoken"}
    status, body, _ = replay.request(
        "POST", "/accounts/passkeys/signin/", json_body={"credential": authenticator.get(options)}, node="a"
    )
    assert status == 400, body


def test_failed_sign_ins_on_both_nodes_add_up_to_one_limit(nodes, make_user):
    user = make_user("linus@example.com")
    browser = Browser(nodes)
    for node in ("a", "b", "a"):  # signin-ip-account=3/15m: three failures, wherever they land
        status, page, _ = password_step(browser, user.email, node=node, password="not the password at all")
        assert status == 400, (node, status)
        assert "do not match an account" in page
    status, page, response = password_step(browser, user.email, node="b", password="not the password at all")
    assert status == 429, status
    assert response.headers["Retry-After"]
    # The right password is refused too now, on either node: the limit is counted before the hash.
    for node in ("a", "b"):
        status, _, _ = password_step(browser, user.email, node=node)
        assert status == 429, (node, status)
    assert not browser.signed_in("a")
