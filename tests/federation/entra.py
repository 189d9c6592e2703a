"""The loopback provider (upstream.py) shaped as Microsoft Entra ID: its base address stands for
https://login.microsoftonline.com. Discovery is served per authority: `/<tenant ID>/v2.0/...` names that
tenant's issuer, `/organizations/v2.0/...` and `/common/v2.0/...` the template
`<base>/{tenantid}/v2.0`, as Entra's do. Its ID tokens carry `tid` and the issuer of the person's tenant,
no `email_verified`, and `xms_edov` only when `edov` says so. Like Entra, it sends no RFC 9207 `iss`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .upstream import Upstream

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OTHER_TENANT = "0e3e2f6c-1b1a-4c3d-9e8f-5a6b7c8d9e0f"
_AUTHORITY = re.compile(r"/(?P<tenant>[^/]+)/v2\.0/\.well-known/openid-configuration")


@dataclass
class Entra(Upstream):
    tenant: str = TENANT  # the tenant the person signing in belongs to
    edov: bool | None = None  # the optional claim xms_edov: None leaves it out

    def __post_init__(self) -> None:
        super().__post_init__()
        self.misbehave.omit_iss_parameter = True

    def authority(self, tenant: str = "organizations") -> str:
        return f"{self.issuer}/{tenant}/v2.0"

    def discovery_for(self, path: str) -> dict[str, Any] | None:
        match = _AUTHORITY.fullmatch(path)
        if match is None:
            return None
        tenant = match["tenant"]
        document = self.discovery()
        del document["authorization_response_iss_parameter_supported"]
        document["issuer"] = self.authority("{tenantid}" if tenant in ("organizations", "common") else tenant)
        return document

    def shaped(self, claims: dict[str, Any]) -> dict[str, Any]:
        if "email_verified" not in self.person.claims:  # Entra sends none (a test may make it)
            claims.pop("email_verified", None)
        claims.setdefault("tid", self.tenant)
        if not self.misbehave.token_issuer:
            claims["iss"] = self.authority(claims["tid"])
        if self.edov is not None:
            claims["xms_edov"] = self.edov
        return claims
