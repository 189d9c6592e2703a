"""The bench's people: who they are and the passkey each holds, derived from their number so that the
seeding process and the load driver agree without sharing anything but this module."""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives.asymmetric import ec

from tests.mfa.softauthn import SoftCredential

PASSWORD = "bench-Correct-Horse-7"
RP_ID = "localhost"
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def email(number: int) -> str:
    return f"bench-{number}@example.com"


def username(number: int) -> str:
    """The stock allauth site's people sign in by username, allauth's default."""
    return f"bench-{number}"


def user_handle(number: int) -> bytes:
    return hashlib.sha256(b"identity-bench-handle-%d" % number).digest()[:32]


def passkey(number: int) -> SoftCredential:
    """Person `number`'s passkey: the same key pair in every process."""
    secret = int.from_bytes(hashlib.sha256(b"identity-bench-passkey-%d" % number).digest(), "big")
    return SoftCredential(
        id=hashlib.sha256(b"identity-bench-credential-%d" % number).digest()[:16],
        rp_id=RP_ID,
        user_handle=user_handle(number),
        private_key=ec.derive_private_key(secret % (_P256_ORDER - 1) + 1, ec.SECP256R1()),
    )
