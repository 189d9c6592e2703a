"""A small, real OpenID Connect provider on loopback, for federation's tests: discovery, JWKS, an
authorization endpoint that approves whoever `person` says at once, and a token endpoint that checks
the client's secret, the redirect URI and the PKCE verifier (S256, with authlib's own challenge
function) and issues RS256 ID tokens signed with joserfc (authlib's JOSE library).

The person has a session at the provider (`authenticated_at`, the ID token's `auth_time`): a request
with `prompt=login` or `max_age=0` makes them sign in there again, as an honest provider would, unless
`misbehave.ignore_prompt` (a provider that answers from the old session).

It runs in a thread of the test process (http.server on 127.0.0.1, a port the system picks), so it is
no server process of its own in tests/test_markers.py's sense. Each attack a test plays is a switch
on `Upstream` (`misbehave`), so the provider is otherwise as an honest one would be."""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from tests.loopback import serve_in_thread

REDIRECT_URI_TEMPLATE = "{site}/accounts/federation/{slug}/callback/"

# Making a 2048-bit RSA key takes about 50 ms, and every Upstream needs two (its own and a foreign one
# under the same kid): the run makes a few and hands them out in turn, so the keys one test uses are all
# different from each other (no test uses more than a handful), only not from those of earlier tests,
# whose providers, caches and database rows are gone.
_KEY_POOL_SIZE = 16
_key_pool: list[RSAKey] = []
_keys_handed_out = itertools.count()


def signing_key(kid: str) -> RSAKey:
    """An RSA private key (2048 bits, for signing), different from the last _KEY_POOL_SIZE - 1 handed out."""
    turn = next(_keys_handed_out) % _KEY_POOL_SIZE
    if turn == len(_key_pool):
        _key_pool.append(RSAKey.generate_key(2048))
    made = _key_pool[turn]
    return RSAKey(made.raw_value, made.original_value, {"kid": kid, "use": "sig"})


@dataclass
class Person:
    """Who signs in at the provider: `email_verified` None leaves the claim out. `amr`: how they
    authenticated there (RFC 8176), put in the ID token as it is (any JSON, to play garbage too); None
    leaves it out."""

    subject: str = "upstream-user-1"
    email: str | None = "grace@example.org"
    email_verified: bool | None = True
    amr: Any = None
    claims: dict[str, Any] = field(default_factory=dict)  # more claims in its ID token (tid, xms_edov, ...)


@dataclass
class Misbehaviour:
    nonce: str | None = None  # the ID token carries this nonce instead of the one asked for
    audience: str | list[str] | None = None  # ... this `aud` instead of the client's id
    azp: str | None = None  # ... and this `azp`
    token_issuer: str | None = None  # ... this `iss` instead of the provider's
    foreign_key: bool = False  # ... a signature by a key not in the JWKS (same `kid`)
    kid: str | None = None  # ... a header naming this key id instead of the signing key's
    iss_parameter: str | None = None  # the authorization response's `iss` (RFC 9207) says this
    omit_iss_parameter: bool = False  # ... or leaves `iss` out
    ignore_prompt: bool = False  # prompt=login and max_age=0 do not make the person sign in again
    omit_auth_time: bool = False  # the ID token says nothing of when the person authenticated


@dataclass
class Upstream:
    slug: str = "acme"
    client_id: str = "identity-client"
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    person: Person = field(default_factory=Person)
    misbehave: Misbehaviour = field(default_factory=Misbehaviour)
    fetches: Counter[str] = field(default_factory=Counter)  # GET requests by path (discovery, keys)
    issuer: str = ""
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    token_requests: int = 0
    site: str = "http://testserver"  # our SITE_URL, which names the redirect URI (a live server's in tests/e2e)
    authorizations: list[dict[str, str]] = field(default_factory=list)  # every authorization request's query
    authenticated_at: int | None = None  # when the person last signed in at the provider (None: never)

    def __post_init__(self) -> None:
        self.key = signing_key("upstream-1")
        self.foreign = signing_key("upstream-1")
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.issuer = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = serve_in_thread(self._server, start=False)

    @property
    def redirect_uri(self) -> str:
        return REDIRECT_URI_TEMPLATE.format(site=self.site, slug=self.slug)

    def start(self) -> Upstream:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def rotate_key(self) -> None:
        """A new signing key under a new `kid`; the old one leaves the JWKS."""
        self.key = signing_key(secrets.token_hex(4))

    def discovery_for(self, path: str) -> dict[str, Any] | None:
        """The discovery document served at `path`, if one is."""
        return self.discovery() if path == "/.well-known/openid-configuration" else None

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "authorization_response_iss_parameter_supported": True,
        }

    def authorize(self, query: dict[str, str]) -> str:
        """Approve the request for `person`: the callback URL with a fresh code."""
        self.authorizations.append(query)
        assert query["client_id"] == self.client_id and query["redirect_uri"] == self.redirect_uri, query
        assert query["response_type"] == "code" and "openid" in query["scope"].split(), query
        assert query["code_challenge_method"] == "S256" and query.get("nonce"), query
        again = "login" in query.get("prompt", "").split() or query.get("max_age") == "0"
        if self.authenticated_at is None or (again and not self.misbehave.ignore_prompt):
            self.authenticated_at = int(time.time())
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "challenge": query["code_challenge"],
            "nonce": query["nonce"],
            "person": self.person,
            "auth_time": self.authenticated_at,
        }
        answer = {"code": code, "state": query["state"]}
        if not self.misbehave.omit_iss_parameter:
            answer["iss"] = self.misbehave.iss_parameter or self.issuer
        return f"{self.redirect_uri}?{urlencode(answer)}"

    def token(self, form: dict[str, str], authorization: str) -> tuple[int, dict[str, Any]]:
        self.token_requests += 1
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if authorization != f"Basic {expected}":
            return 401, {"error": "invalid_client"}
        grant = self.codes.pop(form.get("code", ""), None)  # a code works once
        if grant is None or form.get("redirect_uri") != self.redirect_uri:
            return 400, {"error": "invalid_grant"}
        if create_s256_code_challenge(form.get("code_verifier", "")) != grant["challenge"]:
            return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
        return 200, {
            "access_token": secrets.token_urlsafe(16),
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": self.id_token(grant["person"], grant["nonce"], grant["auth_time"]),
        }

    def id_token(self, person: Person, nonce: str, auth_time: int | None = None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.misbehave.token_issuer or self.issuer,
            "sub": person.subject,
            "aud": self.misbehave.audience or self.client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": self.misbehave.nonce or nonce,
        }
        if self.misbehave.azp is not None:
            claims["azp"] = self.misbehave.azp
        if auth_time is not None and not self.misbehave.omit_auth_time:
            claims["auth_time"] = auth_time
        if person.email is not None:
            claims["email"] = person.email
        if person.email_verified is not None:
            claims["email_verified"] = person.email_verified
        if person.amr is not None:
            claims["amr"] = person.amr
        claims = self.shaped({**claims, **person.claims})
        key = self.foreign if self.misbehave.foreign_key else self.key
        return jwt.encode({"alg": "RS256", "kid": self.misbehave.kid or self.key.kid}, claims, key)

    def shaped(self, claims: dict[str, Any]) -> dict[str, Any]:
        """The ID token's claims as this provider words them (entra.py's differ)."""
        return claims

    def jwks(self) -> Any:
        return KeySet([self.key]).as_dict(private=False)


def _handler(upstream: Upstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            upstream.fetches[url.path] += 1
            discovery = upstream.discovery_for(url.path)
            if discovery is not None:
                self._json(200, discovery)
            elif url.path == "/jwks":
                self._json(200, dict(upstream.jwks()))
            elif url.path == "/authorize":
                query = {name: values[0] for name, values in parse_qs(url.query).items()}
                self.send_response(302)
                self.send_header("Location", upstream.authorize(query))
                self.end_headers()
            else:
                self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:
            if urlsplit(self.path).path != "/token":
                self._json(404, {"error": "not_found"})
                return
            body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
            form = {name: values[0] for name, values in parse_qs(body).items()}
            self._json(*upstream.token(form, self.headers.get("Authorization", "")))

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest shows failures, not traffic
            pass

    return Handler
