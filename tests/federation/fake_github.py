"""A small fake of GitHub on loopback, shaped as a GitHub Enterprise Server (its API under /api/v3): the
authorization page (approves `user` at once), the code exchange (checks the client's id and secret in
the form, the redirect URI and the PKCE S256 verifier; answers errors with 200 and an `error`, as
GitHub does), and the REST API's /user and /user/emails for the access token it issued.

It stands for the outside world's HTTP only; the OAuth client under test is authlib's."""

from __future__ import annotations

import json
import secrets
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from authlib.oauth2.rfc7636 import create_s256_code_challenge

from tests.loopback import serve_in_thread

REDIRECT_URI = "http://testserver/accounts/federation/github/callback/"


@dataclass
class GitHubUser:
    id: int = 4242
    login: str = "grace"
    email: str | None = None  # the profile's public address: whatever its owner typed
    emails: list[dict[str, Any]] = field(
        default_factory=lambda: [{"email": "grace@example.org", "primary": True, "verified": True, "visibility": None}]
    )


@dataclass
class FakeGitHub:
    client_id: str = "Iv1.identity"
    client_secret: str = field(default_factory=lambda: secrets.token_hex(20))
    user: GitHubUser = field(default_factory=GitHubUser)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, GitHubUser] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    last_authorize: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = serve_in_thread(self._server, start=False)

    def start(self) -> FakeGitHub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def authorize(self, query: dict[str, str]) -> str:
        self.last_authorize = query
        assert query["client_id"] == self.client_id and query["redirect_uri"] == REDIRECT_URI, query
        assert query["code_challenge_method"] == "S256" and query.get("state"), query
        code = secrets.token_hex(10)
        self.codes[code] = {"challenge": query["code_challenge"], "user": self.user}
        return f"{REDIRECT_URI}?{urlencode({'code': code, 'state': query['state']})}"

    def access_token(self, form: dict[str, str]) -> dict[str, Any]:
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return {"error": "incorrect_client_credentials"}
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None or form.get("redirect_uri") != REDIRECT_URI:
            return {"error": "bad_verification_code"}
        if create_s256_code_challenge(form.get("code_verifier", "")) != grant["challenge"]:
            return {"error": "bad_verification_code", "error_description": "PKCE"}
        token = "gho_" + secrets.token_hex(16)
        self.tokens[token] = grant["user"]
        return {"access_token": token, "token_type": "bearer", "scope": "read:user,user:email"}

    def api(self, path: str, authorization: str) -> tuple[int, Any]:
        user = self.tokens.get(authorization.removeprefix("Bearer ").removeprefix("token "))
        if user is None:
            return 401, {"message": "Bad credentials"}
        if path == "/api/v3/user":
            return 200, {"id": user.id, "login": user.login, "email": user.email, "name": "Grace"}
        if path == "/api/v3/user/emails":
            return 200, user.emails
        return 404, {"message": "Not Found"}


def _handler(github: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            github.requests[url.path] += 1
            if url.path == "/login/oauth/authorize":
                query = {name: values[0] for name, values in parse_qs(url.query).items()}
                self.send_response(302)
                self.send_header("Location", github.authorize(query))
                self.end_headers()
            else:
                self._json(*github.api(url.path, self.headers.get("Authorization", "")))

        def do_POST(self) -> None:
            github.requests[urlsplit(self.path).path] += 1
            if urlsplit(self.path).path != "/login/oauth/access_token":
                self._json(404, {"message": "Not Found"})
                return
            body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
            form = {name: values[0] for name, values in parse_qs(body).items()}
            self._json(200, github.access_token(form))

        def _json(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
