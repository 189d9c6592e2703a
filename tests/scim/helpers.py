"""SCIM test helpers: clients with a token and limits, and requests with the token and SCIM's media type."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

from scim.models import ScimClient

SCIM_JSON = "application/scim+json"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def make_client(name: str = "Entra", **limits) -> tuple[ScimClient, str]:
    client = ScimClient(name=name, **limits)
    token = client.issue_token()
    client.save()
    return client, token


class Scim:
    """Requests to /scim/v2/ as one SCIM client: `scim.get("Users", filter=...)`, `scim.post(...)`."""

    def __init__(self, token: str, browser: Client | None = None):
        self.token = token
        self.browser = browser or Client(raise_request_exception=False)

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **(headers or {})}

    def get(self, path: str, headers: dict[str, str] | None = None, **query):
        return self.browser.get(f"/scim/v2/{path}", query, headers=self._headers(headers))

    def send(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None):
        data = json.dumps(body) if body is not None else ""
        call = getattr(self.browser, method.lower())
        return call(f"/scim/v2/{path}", data, content_type=SCIM_JSON, headers=self._headers(headers))

    def post(self, path: str, body: Any, **kw):
        return self.send("POST", path, body, **kw)

    def put(self, path: str, body: Any, **kw):
        return self.send("PUT", path, body, **kw)

    def patch(self, path: str, operations: list[dict], **kw):
        return self.send("PATCH", path, {"schemas": [PATCH_SCHEMA], "Operations": operations}, **kw)

    def delete(self, path: str, **kw):
        return self.send("DELETE", path, **kw)


def new_user(email: str = "grace@example.com", **more) -> dict[str, Any]:
    return {"schemas": [USER_SCHEMA], "userName": email, "active": True, **more}


def new_group(name: str = "Engineering", members: list[str] = (), **more) -> dict[str, Any]:  # type: ignore[assignment]
    return {"schemas": [GROUP_SCHEMA], "displayName": name, "members": [{"value": m} for m in members], **more}
