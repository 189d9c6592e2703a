"""ETags of the representations: a digest of what the client is shown, so any change to it (through
SCIM, the admin or the person) gives a new version, and If-Match catches every lost update."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def version_of(representation: dict[str, Any]) -> str:
    shown = {key: value for key, value in representation.items() if key != "meta"}
    digest = hashlib.sha256(json.dumps(shown, sort_keys=True, default=str).encode()).hexdigest()[:20]
    return f'W/"{digest}"'
