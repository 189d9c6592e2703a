"""A software WebAuthn authenticator (and the browser around it) for tests.

It answers the options our endpoints send with the JSON a browser posts back: a "none" attestation
when creating a passkey, a signed assertion when using one. Keys are EC P-256 (ES256). Each answer has
knobs to break one property at a time (origin, relying party, user verification, counter, user handle,
challenge), so a test can show that the server checks exactly that.

    authenticator = SoftAuthenticator()
    credential = authenticator.create(options)          # for POST /accounts/passkeys/register/
    assertion = authenticator.get(options)              # for POST /accounts/passkeys/signin/
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, encode_cbor

ORIGIN = "http://testserver"
ZERO_AAGUID = bytes(16)

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40

_UNSET = object()


def cose_ec2_public_key(private_key: ec.EllipticCurvePrivateKey) -> bytes:
    """The COSE_Key form (kty EC2, alg ES256, crv P-256) a stored passkey's public key takes."""
    numbers = private_key.public_key().public_numbers()
    return encode_cbor({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})


@dataclass
class SoftCredential:
    """One discoverable credential held by the authenticator."""

    id: bytes
    rp_id: str
    user_handle: bytes
    private_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    sign_count: int = 0
    counts: bool = True  # False: a synced passkey that always reports 0

    @property
    def public_key(self) -> bytes:
        return cose_ec2_public_key(self.private_key)

    @property
    def b64id(self) -> str:
        return bytes_to_base64url(self.id)


class SoftAuthenticator:
    """A platform authenticator with resident keys and user verification."""

    def __init__(
        self,
        *,
        aaguid: bytes = ZERO_AAGUID,
        backup_eligible: bool = False,
        backed_up: bool = False,
        counts: bool = True,
        transports: tuple[str, ...] = ("internal", "hybrid"),
        origin: str = ORIGIN,
    ):
        self.aaguid = aaguid
        self.backup_eligible = backup_eligible
        self.backed_up = backed_up
        self.counts = counts
        self.transports = list(transports)
        self.origin = origin
        self.credentials: list[SoftCredential] = []

    # --- building blocks --------------------------------------------------------------------------

    def new_credential(self, rp_id: str, user_handle: bytes, credential_id: bytes | None = None) -> SoftCredential:
        credential = SoftCredential(
            id=credential_id or os.urandom(16), rp_id=rp_id, user_handle=user_handle, counts=self.counts
        )
        self.credentials.append(credential)
        return credential

    def _flags(self, *, user_present: bool, user_verified: bool, attested: bool = False) -> int:
        flags = (UP if user_present else 0) | (UV if user_verified else 0) | (AT if attested else 0)
        if self.backup_eligible:
            flags |= BE
        if self.backed_up:
            flags |= BS
        return flags

    @staticmethod
    def _client_data(kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}, separators=(",", ":")
        ).encode()

    # --- navigator.credentials.create() -----------------------------------------------------------

    def create(
        self,
        options: dict,
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        challenge: str | None = None,
        user_verified: bool = True,
        user_present: bool = True,
        credential_id: bytes | None = None,
        sign_count: int = 0,
        transports: object = _UNSET,
    ) -> dict:
        """Create a credential for registration options (as parsed JSON) and answer like a browser."""
        rp_id = rp_id if rp_id is not None else options["rp"]["id"]
        credential = self.new_credential(rp_id, base64url_to_bytes(options["user"]["id"]), credential_id)
        credential.sign_count = sign_count
        auth_data = (
            hashlib.sha256(rp_id.encode()).digest()
            + bytes([self._flags(user_present=user_present, user_verified=user_verified, attested=True)])
            + struct.pack(">I", sign_count)
            + self.aaguid
            + struct.pack(">H", len(credential.id))
            + credential.id
            + credential.public_key
        )
        attestation = encode_cbor({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", challenge or options["challenge"], origin or self.origin)
        return {
            "id": credential.b64id,
            "rawId": credential.b64id,
            "type": "public-key",
            "response": {
                "clientDataJSON": bytes_to_base64url(client_data),
                "attestationObject": bytes_to_base64url(attestation),
                "transports": self.transports if transports is _UNSET else transports,
            },
            "clientExtensionResults": {"credProps": {"rk": True}},
            "authenticatorAttachment": "platform",
        }

    # --- navigator.credentials.get() --------------------------------------------------------------

    def pick(self, options: dict) -> SoftCredential:
        """The credential a browser would offer: one allowed by the options, else one for the rp."""
        allowed = {item["id"] for item in options.get("allowCredentials") or []}
        for credential in self.credentials:
            if (credential.b64id in allowed) if allowed else credential.rp_id == options["rpId"]:
                return credential
        raise LookupError("no credential of this authenticator fits the options")

    def get(
        self,
        options: dict,
        *,
        credential: SoftCredential | None = None,
        origin: str | None = None,
        rp_id: str | None = None,
        challenge: str | None = None,
        user_verified: bool = True,
        user_present: bool = True,
        sign_count: int | None = None,
        user_handle: object = _UNSET,
    ) -> dict:
        """Sign an assertion for authentication options (as parsed JSON) and answer like a browser.

        The credential's counter goes up by one unless it is a non-counting (synced) one or
        `sign_count` sets the value sent. `user_handle=None` leaves the user handle out.
        """
        credential = credential or self.pick(options)
        if sign_count is None:
            if credential.counts:
                credential.sign_count += 1
            sign_count = credential.sign_count
        auth_data = (
            hashlib.sha256((rp_id if rp_id is not None else credential.rp_id).encode()).digest()
            + bytes([self._flags(user_present=user_present, user_verified=user_verified)])
            + struct.pack(">I", sign_count)
        )
        client_data = self._client_data("webauthn.get", challenge or options["challenge"], origin or self.origin)
        signature = credential.private_key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        handle = credential.user_handle if user_handle is _UNSET else user_handle
        return {
            "id": credential.b64id,
            "rawId": credential.b64id,
            "type": "public-key",
            "response": {
                "clientDataJSON": bytes_to_base64url(client_data),
                "authenticatorData": bytes_to_base64url(auth_data),
                "signature": bytes_to_base64url(signature),
                "userHandle": None if handle is None else bytes_to_base64url(handle),  # type: ignore[arg-type]  # bytes
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }
