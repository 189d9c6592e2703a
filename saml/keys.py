"""The identity provider's signing keys and their X.509 certificates, and their rotation.

A keyset comes from SAML_SIGNING_KEYS (the keyset as JSON, for deployments that keep secrets in the
environment) or from the file SAML_KEYS_FILE, generated in development on first use and re-read when
it changes (identity.keyfiles). It is `{"keys": [{"key": PEM, "cert": PEM, "created": t,
"activated": t|null, "retired": t|null}]}`, and each certificate is in one of three states:

- staged (not activated, not retired): published in the metadata but not used, so that SPs, which
  trust exactly the certificates in the metadata they last fetched, know it before it signs;
- active: signs; the newest activated, unretired one;
- retired: still published for SAML_CERT_RETENTION seconds, for SPs checking what it signed, then
  dropped at the next rotation.

`manage.py rotate_saml_certificate --stage` and then, once the SPs have the new metadata,
`--activate` move a certificate along (`staged` and `activated` below). A keyset that is missing
(outside development), unreadable or without an active certificate raises CertificatesUnavailable,
which the system check and the readiness probe report (`keyset_problem`).
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from identity import keyfiles

from .app_settings import app_settings

KEY_SIZE = 3072
CERTIFICATE_LIFETIME = timedelta(days=5 * 365)
STAGED, ACTIVE, RETIRED = "staged", "active", "retired"


class CertificatesUnavailable(ImproperlyConfigured):
    """Nothing can be signed. `reason` names the setting, never the keys nor the file's path (the
    readiness probe shows it); the full message adds how to fix it."""

    def __init__(self, reason: str):
        self.reason = reason
        self.fix = (
            "Set SAML_SIGNING_KEYS to a keyset `manage.py rotate_saml_certificate --print` prints."
            if app_settings.SAML_SIGNING_KEYS
            else f"Set SAML_SIGNING_KEYS, or create {_keys_file()} with `manage.py rotate_saml_certificate "
            "--stage`, then `--activate`."
        )
        super().__init__(f"{reason} {self.fix}")


class RotationRefused(ValueError):
    """A rotation step that would leave SPs unable to check our signatures; the message says what to
    do instead."""


@dataclass(frozen=True)
class IdpCertificate:
    key_pem: str = field(repr=False)  # never in a log line or a traceback's locals
    cert_pem: str
    fingerprint: str  # SHA-256 of the DER certificate, hex
    created: int
    activated: int | None
    retired: int | None
    expires: int  # the certificate's notAfter
    state: str  # STAGED, ACTIVE or RETIRED


def _keys_file() -> Path:
    return Path(app_settings.SAML_KEYS_FILE)


def _common_name() -> str:
    """The site's host: what an SP's admin recognises in the certificate (a CN holds 64 characters)."""
    return (urlsplit(settings.SITE_URL).hostname or "localhost")[:64]


def new_certificate_entry() -> dict:
    """A new RSA key and its self-signed certificate, staged. SPs trust the certificate because it is in
    our metadata, not because of who signed it, so no CA is involved."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    now = datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, _common_name())])
    usage = dict.fromkeys(
        ("content_commitment", "key_encipherment", "data_encipherment", "key_agreement", "key_cert_sign"), False
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))  # SPs whose clocks are a little behind
        .not_valid_after(now + CERTIFICATE_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, crl_sign=False, encipher_only=False, decipher_only=False, **usage),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return {
        "key": key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
        "cert": certificate.public_bytes(serialization.Encoding.PEM).decode(),
        "created": int(time.time()),
        "activated": None,
        "retired": None,
    }


def first_keyset() -> dict:
    """A keyset with one active certificate: development's, where no SP has to learn it first."""
    entry = new_certificate_entry()
    return {"keys": [{**entry, "activated": entry["created"]}]}


def fingerprint(cert_pem: str) -> str:
    certificate = x509.load_pem_x509_certificate(cert_pem.encode())
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def read_keyset() -> dict:
    """The keyset as stored (environment first, then the file; generated in development)."""
    return keyfiles.read_keyset(
        app_settings.SAML_SIGNING_KEYS,
        _keys_file(),
        first=first_keyset,
        missing=lambda: CertificatesUnavailable(
            "No SAML signing certificate: SAML_SIGNING_KEYS is empty and SAML_KEYS_FILE does not exist."
        ),
    )


def stored_keyset() -> dict:
    """The keyset to rotate, as stored; an empty one when there is none yet outside development (the
    first certificate is staged and activated like any other). CertificatesUnavailable when it cannot
    be read."""
    if not app_settings.SAML_SIGNING_KEYS and not _keys_file().exists() and not settings.DEBUG:
        return {"keys": []}
    all_certificates()  # parses every entry: a rotation never builds on a keyset that cannot be used
    return read_keyset()


def write_keyset(keyset: dict) -> None:
    """Replace the keys file atomically, readable by its owner only."""
    keyfiles.write_keyset(_keys_file(), keyset)


def _parsed(entry: dict) -> tuple[str, int]:
    """The certificate's fingerprint and expiry, once it is known to belong to the key beside it (a key
    that does not match its certificate would sign what no SP accepts)."""
    try:
        key = serialization.load_pem_private_key(entry["key"].encode(), password=None)
        certificate = x509.load_pem_x509_certificate(entry["cert"].encode())
        public = certificate.public_key()
    except UnsupportedAlgorithm:
        raise ValueError("unsupported key or certificate") from None
    if not isinstance(key, rsa.RSAPrivateKey) or not isinstance(public, rsa.RSAPublicKey):
        raise TypeError("not an RSA key")
    if key.public_key().public_numbers() != public.public_numbers():
        raise ValueError("the key does not match the certificate")
    digest = hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()
    return digest, int(certificate.not_valid_after_utc.timestamp())


def _load() -> list[IdpCertificate]:
    source = "SAML_SIGNING_KEYS" if app_settings.SAML_SIGNING_KEYS else "SAML_KEYS_FILE"
    with keyfiles.explained(lambda problem: CertificatesUnavailable(f"The SAML keyset ({source}) {problem}")):
        entries = read_keyset()["keys"]
        parsed = [_parsed(entry) for entry in entries]
        current = [i for i, entry in enumerate(entries) if entry["activated"] is not None and entry["retired"] is None]
        signer = max(current, key=lambda i: (int(entries[i]["activated"]), int(entries[i]["created"])), default=None)
        loaded = []
        for i, (entry, (digest, expires)) in enumerate(zip(entries, parsed, strict=True)):
            if i == signer:
                state = ACTIVE
            elif entry["activated"] is None and entry["retired"] is None:
                state = STAGED
            else:
                state = RETIRED  # an older activated, unretired one too: the next activation retires it
            loaded.append(
                IdpCertificate(
                    key_pem=entry["key"],
                    cert_pem=entry["cert"],
                    fingerprint=digest,
                    created=int(entry["created"]),
                    activated=None if entry["activated"] is None else int(entry["activated"]),
                    retired=None if entry["retired"] is None else int(entry["retired"]),
                    expires=expires,
                    state=state,
                )
            )
    return loaded


_cache: keyfiles.Reloading[list[IdpCertificate]] = keyfiles.Reloading()


def all_certificates() -> list[IdpCertificate]:
    return _cache.get(app_settings.SAML_SIGNING_KEYS, _keys_file(), _load)


def active() -> IdpCertificate:
    """The certificate whose key signs responses, assertions and logout messages."""
    certificates = all_certificates()
    for certificate in certificates:
        if certificate.state == ACTIVE:
            return certificate
    if any(certificate.state == STAGED for certificate in certificates):
        raise CertificatesUnavailable("The SAML keyset has no active certificate (one is staged: activate it).")
    raise CertificatesUnavailable("The SAML keyset has no active certificate.")


def _retention_over(retired: int | None, now: float) -> bool:
    return retired is not None and now - retired >= app_settings.SAML_CERT_RETENTION


def published() -> list[IdpCertificate]:
    """The certificates the metadata lists: the active one first, then the staged one, then the retired
    ones still within their retention, newest first."""
    now = time.time()
    shown = [c for c in all_certificates() if not (c.state == RETIRED and _retention_over(c.retired, now))]
    order = {ACTIVE: 0, STAGED: 1, RETIRED: 2}
    return sorted(shown, key=lambda c: (order[c.state], -(c.retired or now), -c.created))


def made_on_first_use() -> bool:
    """Development without a keyset yet: the first use makes one (and a check must not)."""
    return settings.DEBUG and not app_settings.SAML_SIGNING_KEYS and not _keys_file().exists()


def not_set_up() -> bool:
    """Outside development with no keyset at all: SAML is simply not in use here (its endpoints answer
    503 and a warning at start says how to set it up). A keyset that exists but cannot be used is a
    problem instead (keyset_problem)."""
    return not settings.DEBUG and not app_settings.SAML_SIGNING_KEYS and not _keys_file().exists()


def keyset_problem() -> CertificatesUnavailable | None:
    """Why nothing can be signed though SAML is set up, or None. In development a missing file is no
    problem: it is made on first use; in production none at all means SAML is not set up (not_set_up)."""
    if made_on_first_use() or not_set_up():
        return None
    try:
        active()
    except CertificatesUnavailable as problem:
        return problem
    return None


# --- the key and certificate as files, for xmlsec1 ---------------------------------------------------

_files_lock = threading.Lock()
_files: dict = {"pid": None, "directory": None, "paths": {}}


def signing_files() -> tuple[str, str]:
    """Paths to the active key and certificate as PEM files (pysaml2 signs with xmlsec1, which reads
    files). Written once per active certificate and process into a private directory (0700, files
    0600) that goes when the process ends; a forked worker makes its own. A file removed meanwhile (a
    temp cleaner) is written again. Older pairs stay until then: a signature in progress may use them."""
    certificate = active()
    with _files_lock:
        if _files["pid"] != os.getpid():
            directory = tempfile.mkdtemp(prefix="identity-saml-")  # mode 0700
            atexit.register(_remove_files, directory, os.getpid())
            _files.update(pid=os.getpid(), directory=directory, paths={})
        paths = _files["paths"].get(certificate.fingerprint)
        if paths is None or not all(os.path.exists(path) for path in paths):
            stem = os.path.join(_files["directory"], certificate.fingerprint[:32])
            paths = (
                _write_private(f"{stem}.key.pem", certificate.key_pem),
                _write_private(f"{stem}.crt.pem", certificate.cert_pem),
            )
            _files["paths"][certificate.fingerprint] = paths
    return paths


def _write_private(path: str, text: str) -> str:
    temporary = f"{path}.{threading.get_ident()}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(temporary, path)
    return path


def _remove_files(directory: str, owner: int) -> None:
    if os.getpid() == owner:  # not a forked child's: it shares the parent's atexit list
        shutil.rmtree(directory, ignore_errors=True)


# --- rotation: pure functions on the stored keyset, for rotate_saml_certificate ---------------------


def _is_staged(entry: dict) -> bool:
    return entry.get("activated") is None and entry.get("retired") is None


def _without_expired(entries: list[dict], now: int) -> list[dict]:
    return [entry for entry in entries if not _retention_over(entry.get("retired"), now)]


def staged(keyset: dict) -> dict:
    """The keyset with a new certificate staged (published, not signing); retired ones past their
    retention dropped. Refused while one is staged already: the SPs may be fetching it right now."""
    entries = list(keyset.get("keys", []))
    waiting = [entry for entry in entries if _is_staged(entry)]
    if waiting:
        raise RotationRefused(
            f"A certificate is staged already ({fingerprint(waiting[-1]['cert'])}): activate it with --activate "
            "once the SPs have the metadata that lists it."
        )
    return {"keys": [*_without_expired(entries, int(time.time())), new_certificate_entry()]}


def activated(keyset: dict) -> dict:
    """The keyset with the staged certificate signing and the one before it retired (still published
    for SAML_CERT_RETENTION); retired ones past their retention dropped. Refused without a staged
    certificate: one made and used at once would be one no SP knows yet."""
    now = int(time.time())
    entries = list(keyset.get("keys", []))
    waiting = [i for i, entry in enumerate(entries) if _is_staged(entry)]
    if not waiting:
        raise RotationRefused(
            "No certificate is staged. Stage one with --stage first, and activate it once every SP has "
            "fetched the metadata that lists it."
        )
    chosen = max(waiting, key=lambda i: int(entries[i]["created"]))
    rotated = []
    for i, entry in enumerate(entries):
        if i == chosen:
            entry = {**entry, "activated": now}
        elif entry.get("activated") is not None and entry.get("retired") is None:
            entry = {**entry, "retired": now}
        rotated.append(entry)
    return {"keys": _without_expired(rotated, now)}
