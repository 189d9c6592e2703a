"""The IdP's signing certificates (saml.keys): where they come from, which one signs, which ones the
metadata lists, and the files xmlsec1 signs with. Each test that changes the keyset works on its own
copy (saml_keys_file)."""

from __future__ import annotations

import json
import os
import stat
import time
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from saml import keys
from tests.saml.conftest import stored


def staged_keyset(path) -> dict:
    """The keyset in `path` with a next certificate staged, written back."""
    keyset = keys.staged(json.loads(open(path).read()))
    keys.write_keyset(keyset)
    return keyset


# --- where the keyset comes from ------------------------------------------------------------------


def test_development_generates_one_active_certificate_privately(settings, tmp_path):
    missing = tmp_path / "dev" / "saml-keys.json"
    settings.DEBUG = True
    settings.SAML_SIGNING_KEYS = ""
    settings.SAML_KEYS_FILE = str(missing)
    assert keys.keyset_problem() is None  # not made yet, and no problem: it is made on first use
    assert not missing.exists()

    signer = keys.active()

    assert stat.S_IMODE(os.stat(missing).st_mode) == 0o600
    [entry] = stored(missing)
    assert entry["activated"] is not None and entry["retired"] is None
    assert signer.state == keys.ACTIVE and keys.published() == [signer]
    assert keys.keyset_problem() is None


def test_the_certificate_is_rsa_3072_sha256_self_signed_for_the_site_host_for_about_five_years():
    entry = keys.new_certificate_entry()
    certificate = x509.load_pem_x509_certificate(entry["cert"].encode())
    key = serialization.load_pem_private_key(entry["key"].encode(), password=None)
    assert key.key_size == 3072
    assert certificate.public_key().public_numbers() == key.public_key().public_numbers()
    assert isinstance(certificate.signature_hash_algorithm, hashes.SHA256)
    [cn] = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert cn.value == "testserver" and certificate.issuer == certificate.subject
    lifetime = certificate.not_valid_after_utc - datetime.now(UTC)
    assert timedelta(days=4 * 365) < lifetime <= timedelta(days=5 * 365 + 1)
    assert certificate.not_valid_before_utc <= datetime.now(UTC)
    assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert entry["activated"] is None and entry["retired"] is None  # a new one is staged, never signing at once


def test_without_debug_a_missing_keyset_is_refused_and_nothing_is_invented(settings, tmp_path):
    missing = tmp_path / "prod" / "saml-keys.json"
    settings.DEBUG = False
    settings.SAML_SIGNING_KEYS = ""
    settings.SAML_KEYS_FILE = str(missing)
    with pytest.raises(keys.CertificatesUnavailable) as raised:
        keys.active()
    problem = raised.value
    assert "SAML_SIGNING_KEYS" in problem.reason and str(missing) not in problem.reason
    assert "rotate_saml_certificate" in str(problem) and str(missing) in str(problem)  # the fix says where
    assert not missing.exists()
    assert keys.not_set_up() and keys.keyset_problem() is None  # SAML not in use: a warning, not a problem
    with pytest.raises(keys.CertificatesUnavailable):
        keys.signing_files()


def test_keys_from_the_environment_win(settings, tmp_path):
    keyset = keys.first_keyset()
    settings.SAML_SIGNING_KEYS = json.dumps(keyset)
    settings.SAML_KEYS_FILE = str(tmp_path / "unused.json")
    settings.DEBUG = True
    assert keys.active().cert_pem == keyset["keys"][0]["cert"]
    assert not (tmp_path / "unused.json").exists()


def _two_entries() -> tuple[dict, dict]:
    return keys.new_certificate_entry(), keys.new_certificate_entry()


@pytest.fixture(
    params=[
        "a directory",
        "not JSON",
        "a truncated key",
        "no cert",
        "the wrong certificate",
        "not a keyset",
        "the key pasted into a date",  # int()'s message would quote it
    ]
)
def broken_keyset(request, saml_keys_file) -> tuple[str, str]:
    """A keys file that cannot be used, the words its reason must say, and key material it must not."""
    [entry] = stored(saml_keys_file)
    secret = entry["key"].splitlines()[5]
    if request.param == "a directory":
        saml_keys_file.unlink()
        saml_keys_file.mkdir()
        return "cannot be read: Is a directory", secret
    texts = {
        "not JSON": json.dumps({"keys": [entry]})[:1500],
        "a truncated key": json.dumps({"keys": [{**entry, "key": entry["key"][:900]}]}),
        "no cert": json.dumps({"keys": [{k: v for k, v in entry.items() if k != "cert"}]}),
        "the wrong certificate": json.dumps({"keys": [{**entry, "cert": keys.new_certificate_entry()["cert"]}]}),
        "not a keyset": json.dumps([entry]),
        "the key pasted into a date": json.dumps({"keys": [{**entry, "created": entry["key"]}]}),
    }
    saml_keys_file.write_text(texts[request.param])
    return "is not a valid keyset", secret


def test_an_unusable_keyset_is_a_reason_without_key_material_or_path(settings, broken_keyset):
    words, secret = broken_keyset
    settings.DEBUG = False
    problem = keys.keyset_problem()
    assert isinstance(problem, keys.CertificatesUnavailable)
    assert words in problem.reason and "SAML_KEYS_FILE" in problem.reason
    for shown in (problem.reason, str(problem)):
        assert secret not in shown and "PRIVATE KEY" not in shown and "MII" not in shown
    assert settings.SAML_KEYS_FILE not in problem.reason
    assert problem.__cause__ is None and problem.__suppress_context__  # no parser's message chained on
    with pytest.raises(keys.CertificatesUnavailable):
        keys.active()


def test_bad_json_in_the_setting_names_the_setting(settings):
    settings.SAML_SIGNING_KEYS = '{"keys": [{"key": "-----BEGIN PRIVATE KEY-----\\nMIIG'
    problem = keys.keyset_problem()
    assert "SAML_SIGNING_KEYS" in problem.reason and "MIIG" not in str(problem)
    assert "--print" in problem.fix


def test_the_certificate_does_not_show_its_key_when_printed(saml_keys_file):
    signer = keys.active()
    assert "PRIVATE" not in repr(signer) and signer.key_pem.startswith("-----BEGIN PRIVATE KEY-----")


# --- which certificate signs, which ones are published ---------------------------------------------


def test_a_staged_certificate_is_published_but_does_not_sign(saml_keys_file):
    before = keys.active()
    keyset = staged_keyset(saml_keys_file)

    assert keys.active() == before  # the file was re-read, and the old one still signs
    staged_cert = keys.published()[1]
    assert staged_cert.state == keys.STAGED and staged_cert.cert_pem == keyset["keys"][-1]["cert"]
    assert [c.fingerprint for c in keys.published()] == [before.fingerprint, staged_cert.fingerprint]
    key_file, cert_file = keys.signing_files()
    assert open(key_file).read() == before.key_pem and open(cert_file).read() == before.cert_pem


def test_activation_signs_with_the_staged_one_and_keeps_the_old_published(saml_keys_file):
    old = keys.active()
    staged_keyset(saml_keys_file)
    next_one = keys.published()[1]

    keys.write_keyset(keys.activated(json.loads(open(saml_keys_file).read())))

    signer = keys.active()
    assert signer.fingerprint == next_one.fingerprint and signer.state == keys.ACTIVE
    [first, second] = keys.published()
    assert first == signer
    assert second.fingerprint == old.fingerprint and second.state == keys.RETIRED
    assert abs(second.retired - time.time()) < 60
    assert open(keys.signing_files()[0]).read() == signer.key_pem


def test_a_retired_certificate_is_unpublished_after_the_retention_and_dropped_at_the_next_rotation(
    saml_keys_file, settings, later
):
    settings.SAML_CERT_RETENTION = 3600
    old = keys.active()
    staged_keyset(saml_keys_file)
    keys.write_keyset(keys.activated(json.loads(open(saml_keys_file).read())))
    signer = keys.active()

    later(3600 - 60)
    assert [c.fingerprint for c in keys.published()] == [signer.fingerprint, old.fingerprint]
    later(3600 + 5)
    assert [c.fingerprint for c in keys.published()] == [signer.fingerprint]
    assert old.fingerprint in [keys.fingerprint(entry["cert"]) for entry in stored(saml_keys_file)]  # until...

    staged_keyset(saml_keys_file)  # ...the next rotation

    fingerprints = [keys.fingerprint(entry["cert"]) for entry in stored(saml_keys_file)]
    assert old.fingerprint not in fingerprints and fingerprints[0] == signer.fingerprint and len(fingerprints) == 2


def test_only_staged_certificates_is_no_signer(saml_keys_file, settings):
    settings.DEBUG = False
    keys.write_keyset({"keys": [keys.new_certificate_entry()]})
    problem = keys.keyset_problem()
    assert problem is not None and "no active certificate" in problem.reason and "staged" in problem.reason
    assert [c.state for c in keys.published()] == [keys.STAGED]


def test_two_activated_certificates_the_newest_signs_and_the_other_counts_as_retired(saml_keys_file):
    """A hand-edited keyset: still exactly one signer, and the next activation retires the other."""
    first, second = _two_entries()
    keys.write_keyset({"keys": [{**second, "activated": 2000}, {**first, "activated": 1000}]})
    signer = keys.active()
    assert signer.cert_pem == second["cert"]
    assert [c.state for c in keys.published()] == [keys.ACTIVE, keys.RETIRED]

    keyset = keys.activated(keys.staged(keys.stored_keyset()))
    assert [entry["retired"] is None for entry in keyset["keys"]] == [False, False, True]


# --- the files xmlsec1 signs with -----------------------------------------------------------------


def test_signing_files_are_private_and_written_once_per_certificate(saml_keys_file):
    key_file, cert_file = keys.signing_files()
    directory = os.path.dirname(key_file)
    assert os.path.dirname(cert_file) == directory
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    for path in (key_file, cert_file):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    written = os.stat(key_file).st_mtime_ns
    assert keys.signing_files() == (key_file, cert_file)
    assert os.stat(key_file).st_mtime_ns == written  # not rewritten

    os.unlink(cert_file)  # a temp cleaner
    assert keys.signing_files() == (key_file, cert_file) and open(cert_file).read() == keys.active().cert_pem


def test_another_process_writes_its_own_signing_files(saml_keys_file):
    """A forked worker must not share (and at its exit remove) the directory its parent made."""
    key_file, _ = keys.signing_files()
    keys._files["pid"] = -1  # as a forked child sees it
    other_key_file, _ = keys.signing_files()
    assert os.path.dirname(other_key_file) != os.path.dirname(key_file)
    assert open(other_key_file).read() == open(key_file).read()


def test_signing_files_sign_and_verify_with_xmlsec1(saml_keys_file):
    """The files work with pysaml2's xmlsec1 backend, and a signature verifies with the published
    certificate only, not with another."""
    from saml2 import class_name
    from saml2.saml import Assertion, Issuer
    from saml2.sigver import CryptoBackendXmlSec1, SecurityContext, SignatureError, pre_signature_part

    key_file, cert_file = keys.signing_files()
    security = SecurityContext(CryptoBackendXmlSec1("/usr/bin/xmlsec1"), key_file=key_file, cert_file=cert_file)
    assertion = Assertion(id="id-1", version="2.0", issue_instant="2026-01-01T00:00:00Z", issuer=Issuer(text="x"))
    assertion.signature = pre_signature_part("id-1", security.my_cert, 1)
    signed = security.sign_statement(str(assertion), node_name=class_name(assertion), node_id="id-1")
    assert security.verify_signature(
        signed, cert_file=cert_file, cert_type="pem", node_name=class_name(assertion), node_id="id-1"
    )
    other = saml_keys_file.parent / "other.pem"
    other.write_text(keys.new_certificate_entry()["cert"])
    with pytest.raises(SignatureError):
        security.verify_signature(
            signed, cert_file=str(other), cert_type="pem", node_name=class_name(assertion), node_id="id-1"
        )
