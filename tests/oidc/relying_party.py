"""A relying party for the OIDC tests: builds authorization requests (PKCE S256, state, nonce),
follows them with a Django test client, redeems codes and checks ID tokens with authlib against the
published JWKS, as an independent client library would."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

from authlib.jose import JsonWebKey, JsonWebToken
from django.test import Client as Browser

from oidc.models import Client
from tests.users import PASSWORD

ISSUER = "http://testserver"
REDIRECT_URI = "https://rp.example/callback"
SECRET = "s3cr3t-" + "x" * 40


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


class RelyingParty:
    def __init__(self, client: Client, secret: str | None):
        self.client = client
        self.secret = secret
        self.http = Browser()  # the app's own back channel: no cookies of the person

    def authorization(self, **overrides) -> dict:
        verifier, challenge = pkce_pair()
        params = {
            "response_type": "code",
            "client_id": self.client.client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": "openid email profile offline_access",  # as common client libraries ask
            "state": secrets.token_urlsafe(8),
            "nonce": secrets.token_urlsafe(8),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        params.update(overrides)
        params = {key: value for key, value in params.items() if value is not None}
        return {"params": params, "verifier": verifier, "url": "/oauth/authorize/?" + urlencode(params)}

    @staticmethod
    def callback(response) -> dict:
        """The parameters an authorization response carried back to the app."""
        assert response.status_code == 302, response.status_code
        location = response["Location"]
        assert location.startswith(REDIRECT_URI), location
        return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}

    def auth(self) -> dict:
        if self.secret is None:
            return {}
        basic = base64.b64encode(f"{self.client.client_id}:{self.secret}".encode()).decode()
        return {"HTTP_AUTHORIZATION": f"Basic {basic}"}

    def token(self, data: dict, **extra):
        if self.secret is None:
            data = {"client_id": self.client.client_id, **data}
        return self.http.post("/oauth/token/", data, **{**self.auth(), **extra})

    def redeem(self, code: str, verifier: str | None, **extra):
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
        if verifier is not None:
            data["code_verifier"] = verifier
        data.update(extra)
        return self.token(data)

    def refresh(self, refresh_token: str):
        return self.token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def id_claims(self, id_token: str, nonce: str | None = None) -> dict:
        jwks = JsonWebKey.import_key_set(self.http.get("/oauth/jwks/").json())
        claims = JsonWebToken([self.client.algorithm]).decode(  # only the app's algorithm, as a strict library
            id_token,
            jwks,
            claims_options={
                "iss": {"essential": True, "value": ISSUER},
                "aud": {"essential": True, "value": self.client.client_id},
                "exp": {"essential": True},
                **({"nonce": {"essential": True, "value": nonce}} if nonce else {}),
            },
        )
        claims.validate()
        return dict(claims)

    def userinfo(self, access_token: str):
        return self.http.get("/oauth/userinfo/", HTTP_AUTHORIZATION=f"Bearer {access_token}")

    def sign_in_and_redeem(self, browser: Browser, **overrides) -> dict:
        """A signed-in browser through the whole code flow; returns the token response and claims."""
        request = self.authorization(**overrides)
        response = browser.get(request["url"])
        if response.status_code == 200:  # the consent page
            response = browser.post(request["url"], {"decision": "allow"})
        returned = self.callback(response)
        assert returned["state"] == request["params"]["state"]
        tokens = self.redeem(returned["code"], request["verifier"])
        assert tokens.status_code == 200, tokens.content
        body = tokens.json()
        body["claims"] = self.id_claims(body["id_token"], request["params"].get("nonce"))
        return body


def register(
    name="Example app", *, client_type=Client.CLIENT_CONFIDENTIAL, grant=Client.GRANT_AUTHORIZATION_CODE, **fields
) -> tuple[Client, str | None]:
    secret = SECRET + secrets.token_hex(4) if client_type == Client.CLIENT_CONFIDENTIAL else None
    client = Client(
        name=name,
        client_type=client_type,
        authorization_grant_type=grant,
        redirect_uris=REDIRECT_URI if grant == Client.GRANT_AUTHORIZATION_CODE else "",
        client_secret=secret or "",
        **fields,
    )
    client.full_clean()
    client.save()
    return client, secret


def register_client(
    redirect_uris: str, name: str = "Native app", *, client_type=Client.CLIENT_PUBLIC, **fields
) -> tuple[Client, str | None]:
    """Like `register`, with redirect URIs of the test's choosing (a native app on loopback, two URIs...)."""
    secret = SECRET + secrets.token_hex(4) if client_type == Client.CLIENT_CONFIDENTIAL else None
    client = Client(
        name=name,
        client_type=client_type,
        authorization_grant_type=Client.GRANT_AUTHORIZATION_CODE,
        redirect_uris=redirect_uris,
        client_secret=secret or "",
        **fields,
    )
    client.full_clean()
    client.save()
    return client, secret


def response_params(response) -> dict:
    """Every parameter a redirect carried, from its query and its fragment (empty if no redirect)."""
    location = response.get("Location", "")
    parts = urlsplit(location)
    found = {key: values[0] for key, values in parse_qs(parts.query).items()}
    found.update({key: values[0] for key, values in parse_qs(parts.fragment).items()})
    return found


def approve(browser: Browser, url: str):
    """Follow an authorization request in a signed-in browser, allowing on the consent page if shown."""
    response = browser.get(url)
    if response.status_code == 200 and b'name="decision"' in response.content:
        response = browser.post(url, {"decision": "allow"})
    return response


def backdate_signin(browser: Browser, seconds: int) -> int:
    """Pretend the browser's session signed in (and proved its factors) `seconds` earlier. Returns the new time."""
    from accounts.signin_state import AUTH_METHODS, SIGNED_IN_AT

    session = browser.session
    session[SIGNED_IN_AT] -= seconds
    session[AUTH_METHODS] = [{**entry, "at": entry["at"] - seconds} for entry in session[AUTH_METHODS]]
    session.save()
    return session[SIGNED_IN_AT]


def sign_in_with_password(browser: Browser, email: str, next_url: str = "", **fields):
    """POST the sign-in form as the page would (with its hidden `next` and `prompt`)."""
    data = {"email": email, "password": PASSWORD, **fields}
    if next_url:
        data["next"] = next_url
    return browser.post("/accounts/login/", data)
