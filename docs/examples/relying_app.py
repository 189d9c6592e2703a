"""An example relying app for Identity's OpenID Connect provider: stdlib http.server, authlib, joserfc.

Authorization code flow with PKCE (S256), state and nonce; the ID token is checked against the
provider's JWKS (signature, iss, aud, exp, nonce, at_hash). Then: refresh the tokens, call userinfo,
and sign out with RP-initiated logout. See docs/examples/README.md for how to run it against `make run`.

    CLIENT_ID=... [CLIENT_SECRET=...] [IDENTITY_URL=http://localhost:8000] [PORT=8001] [ID_TOKEN_ALG=ES256] \
        python relying_app.py

Sessions live in memory (a dict keyed by a random cookie) and die with the process. This is an example:
a real app keeps them in its own session store, caches discovery and keys, and serves over https.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import secrets
import sys
import time
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet

IDENTITY_URL = os.environ.get("IDENTITY_URL", "http://localhost:8000").rstrip("/")
CLIENT_ID = os.environ.get("CLIENT_ID") or sys.exit("Set CLIENT_ID (from manage.py register_client); see README.md.")
CLIENT_SECRET = os.environ.get("CLIENT_SECRET") or None  # none for a public client: PKCE alone
PORT = int(os.environ.get("PORT", "8001"))
# The one algorithm the app was registered with (register_client's default; --algorithm RS256 for RS256).
# Never taken from the token's header: a verifier that lets the token choose can be fooled (RFC 8725).
ID_TOKEN_ALG = os.environ.get("ID_TOKEN_ALG", "ES256")
APP_URL = f"http://127.0.0.1:{PORT}"
REDIRECT_URI = f"{APP_URL}/callback"  # registered exactly like this (and APP_URL + "/" for logout)
SCOPE = "openid email profile offline_access"  # offline_access: a refresh token
COOKIE = "example_app"

SESSIONS: dict[str, dict] = {}  # cookie value -> this browser's pending sign-in, tokens and claims
_discovery: dict = {}


def provider() -> dict:
    """The discovery document, fetched once. Its issuer must be the URL we were given (OIDC Discovery §4.3)."""
    if not _discovery:
        meta = requests.get(f"{IDENTITY_URL}/.well-known/openid-configuration", timeout=10).json()
        if meta["issuer"] != IDENTITY_URL:
            raise ValueError(f"discovery names issuer {meta['issuer']!r}, expected {IDENTITY_URL!r}")
        _discovery.update(meta)
    return _discovery


def oauth(token: dict | None = None) -> OAuth2Session:
    return OAuth2Session(
        CLIENT_ID, CLIENT_SECRET, scope=SCOPE, redirect_uri=REDIRECT_URI, code_challenge_method="S256", token=token
    )


def validate_id_token(token: dict, nonce: str | None, previous: dict | None = None) -> dict:
    """The ID token's claims, once checked. `previous`: the claims it replaces, after a refresh (OIDC Core §12.2)."""
    meta = provider()
    keys = KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())  # picked by `kid`
    claims = jwt.decode(token["id_token"], keys, algorithms=[ID_TOKEN_ALG]).claims
    expected = {"iss": {"essential": True, "value": meta["issuer"]}, "aud": {"essential": True, "value": CLIENT_ID}}
    expected |= {"exp": {"essential": True}, "iat": {"essential": True}, "sub": {"essential": True}}
    if nonce:
        expected["nonce"] = {"essential": True, "value": nonce}
    jwt.JWTClaimsRegistry(leeway=30, **expected).validate(claims)
    if isinstance(claims["aud"], list) and len(claims["aud"]) > 1 and claims.get("azp") != CLIENT_ID:
        raise ValueError("azp does not name this app")
    digest = hashlib.sha256(token["access_token"].encode()).digest()  # at_hash binds it to this access token
    if claims.get("at_hash") != base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode():
        raise ValueError("at_hash does not match the access token")
    if previous:
        for name in ("iss", "sub", "aud", "auth_time", "nonce"):
            if name in claims and claims[name] != previous.get(name):
                raise ValueError(f"the refreshed ID token changed {name}")
    return claims


def page(body: str, title: str = "Example app") -> str:
    return (
        f'<!doctype html><html lang="en"><meta charset="utf-8"><title>{html.escape(title)}</title>'
        "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}"
        "table{border-collapse:collapse}th,td{text-align:left;padding:.2rem .8rem .2rem 0;vertical-align:top}"
        "td{font-family:monospace;word-break:break-all}form{display:inline-block;margin:0 .5rem .5rem 0}"
        "pre{background:#f4f4f4;padding:.8rem;overflow:auto}.note{color:#555}</style>"
        f"<h1>{html.escape(title)}</h1>{body}</html>"
    )


def button(action: str, label: str) -> str:
    return f'<form method="post" action="{action}"><button type="submit">{label}</button></form>'


class App(BaseHTTPRequestHandler):
    def do_GET(self):
        self.dispatch({"/": self.home, "/login": self.login, "/callback": self.callback})

    def do_POST(self):
        # Our cookie is SameSite=Lax: another site's form posts arrive without it, hence without tokens.
        self.dispatch({"/refresh": self.refresh, "/userinfo": self.userinfo, "/logout": self.logout}, signed_in=True)

    def dispatch(self, routes, signed_in=False):
        url = urlsplit(self.path)
        self.query = {key: values[0] for key, values in parse_qs(url.query).items()}
        cookie = SimpleCookie(self.headers.get("Cookie", "")).get(COOKIE)
        self.sid = cookie.value if cookie and cookie.value in SESSIONS else secrets.token_urlsafe(32)
        self.session = SESSIONS.setdefault(self.sid, {})
        handler = routes.get(url.path)
        if handler is None:
            return self.reply(404, page("<p>Not found.</p>", "Not found"))
        if signed_in and "token" not in self.session:
            return self.reply(303, location="/")
        try:
            handler()
        except Exception as error:  # shown, not hidden: this is an example to learn from
            self.reply(
                502,
                page(
                    f'<p>{html.escape(type(error).__name__)}: {html.escape(str(error))}</p><p><a href="/">Back</a></p>',
                    "Something went wrong",
                ),
            )

    def reply(self, status: int, body: str = "", location: str | None = None):
        self.send_response(status)
        self.send_header("Set-Cookie", f"{COOKIE}={self.sid}; Path=/; HttpOnly; SameSite=Lax")
        self.send_header("Cache-Control", "no-store")
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(body.encode())

    def home(self):
        notes = [f'<p class="note" role="status">{html.escape(n)}</p>' for n in self.session.pop("notes", [])]
        if self.query.get("state") and self.query["state"] == self.session.pop("logout_state", None):
            notes.append('<p class="note" role="status">You have signed out of this app and of Identity.</p>')
        claims = self.session.get("claims")
        if not claims:
            link = '<p>You are not signed in.</p><p><a href="/login">Sign in with Identity</a></p>'
            return self.reply(200, page("".join(notes) + link))
        rows = "".join(
            f'<tr data-claim="{html.escape(k)}"><th>{html.escape(k)}</th><td>{html.escape(json.dumps(v))}</td></tr>'
            for k, v in sorted(claims.items())
        )
        token = self.session["token"]
        fingerprint = hashlib.sha256(token["access_token"].encode()).hexdigest()[:12]
        body = (
            "".join(notes)
            + f"<p>Signed in as <strong>{html.escape(claims.get('email', claims['sub']))}</strong>.</p>"
            + "<h2>ID token claims</h2>"
            + f"<p class=note>Checked: {ID_TOKEN_ALG} signature (JWKS, by kid), iss, aud, exp, nonce, at_hash.</p>"
            + f'<table id="claims">{rows}</table><h2>Tokens</h2>'
            + f'<p>Access token <code id="access-token">{fingerprint}</code> (SHA-256, first 12 hex digits), '
            + f"expires at {time.strftime('%H:%M:%S', time.localtime(token['expires_at']))}; "
            + f"refresh token {'held' if token.get('refresh_token') else 'none'}.</p>"
            + button("/refresh", "Refresh tokens")
            + button("/userinfo", "Call userinfo")
            + button("/logout", "Sign out")
        )
        if "userinfo" in self.session:
            info = html.escape(json.dumps(self.session["userinfo"], indent=2))
            body += f'<h2>Userinfo</h2><pre id="userinfo">{info}</pre>'
        self.reply(200, page(body))

    def login(self):
        verifier, nonce = generate_token(48), generate_token(24)
        endpoint = provider()["authorization_endpoint"]
        url, state = oauth().create_authorization_url(endpoint, code_verifier=verifier, nonce=nonce)
        self.session["pending"] = {"state": state, "nonce": nonce, "verifier": verifier}
        self.reply(303, location=url)

    def callback(self):
        pending = self.session.pop("pending", None)
        problem = None
        if not pending or self.query.get("state") != pending["state"]:
            problem = "This answer does not belong to a sign-in started here (state)."
        elif "iss" in self.query and self.query["iss"] != provider()["issuer"]:  # RFC 9207: no mix-up
            problem = "The answer came from another issuer."
        elif "error" in self.query:
            problem = f"{self.query['error']}: {self.query.get('error_description', '')}"
        if problem:
            body = f'<p id="error">{html.escape(problem)}</p><p><a href="/">Start again</a></p>'
            return self.reply(400, page(body, "Sign-in failed"))
        token = oauth().fetch_token(
            provider()["token_endpoint"], code=self.query["code"], code_verifier=pending["verifier"], timeout=10
        )
        self.session.update(token=dict(token), claims=validate_id_token(token, pending["nonce"]))
        self.session.pop("userinfo", None)
        self.reply(303, location="/")

    def refresh(self):
        token = oauth(self.session["token"]).refresh_token(provider()["token_endpoint"], timeout=10)
        note = "Tokens refreshed."
        if "id_token" in token:
            self.session["claims"] = validate_id_token(token, None, previous=self.session["claims"])
            note = "Tokens refreshed; the new ID token was validated."
        self.session["token"] = dict(token)
        self.session["notes"] = [note]
        self.reply(303, location="/")

    def userinfo(self):
        response = oauth(self.session["token"]).get(provider()["userinfo_endpoint"], timeout=10)
        response.raise_for_status()
        info = response.json()
        if info.get("sub") != self.session["claims"]["sub"]:  # OIDC Core §5.3.4
            raise ValueError("userinfo is about someone else")
        self.session["userinfo"] = info
        self.reply(303, location="/")

    def logout(self):
        """Forget the tokens here, then ask Identity to end its session too and send the browser back."""
        token = self.session.get("token") or {}
        self.session.clear()
        state = self.session["logout_state"] = secrets.token_urlsafe(16)
        query = {"post_logout_redirect_uri": f"{APP_URL}/", "client_id": CLIENT_ID, "state": state}
        if token.get("id_token"):
            query["id_token_hint"] = token["id_token"]
        self.reply(303, location=f"{provider()['end_session_endpoint']}?{urlencode(query)}")


if __name__ == "__main__":
    print(f"Example app on {APP_URL}/ (Identity at {IDENTITY_URL}, client {CLIENT_ID})", flush=True)
    ThreadingHTTPServer(("127.0.0.1", PORT), App).serve_forever()
