"""The one error of a provider's answers (client.py, github.py), apart so both can raise it."""

from __future__ import annotations


class UpstreamError(Exception):
    """The provider did not answer as OpenID Connect (or GitHub's OAuth) says: unreachable, refused the
    code, a bad token. `step` names where: "discovery", "issuer" (the response's RFC 9207 `iss`),
    "token", "id_token" or "userinfo" (GitHub's API)."""

    def __init__(self, step: str, detail: str = ""):
        super().__init__(f"{step}: {detail}")
        self.step = step
