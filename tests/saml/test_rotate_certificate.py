"""`manage.py rotate_saml_certificate`: status, --stage, --activate and --print. The command is run as
an instance (saml is not in INSTALLED_APPS yet, so call_command cannot find it by name)."""

from __future__ import annotations

import io
import json
import os
import stat
import time

import pytest
from django.core.management import CommandError, call_command

from saml import keys
from saml.management.commands.rotate_saml_certificate import Command
from tests.saml.conftest import stored


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(Command(), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_status_shows_fingerprints_states_and_dates_and_no_key(saml_keys_file):
    signer = keys.active()
    out, _ = run()
    assert signer.fingerprint in out and "active" in out and "UTC" in out
    run("--stage")
    out, _ = run()
    [staged_line] = [line for line in out.splitlines() if "staged" in line]
    assert keys.published()[1].fingerprint in staged_line
    assert "PRIVATE" not in out and "CERTIFICATE" not in out


def test_stage_publishes_the_next_certificate_without_signing_with_it(saml_keys_file):
    signer = keys.active()
    out, _ = run("--stage")

    old, new = stored(saml_keys_file)
    assert new["activated"] is None and new["retired"] is None
    assert keys.fingerprint(new["cert"]) in out and "--activate" in out
    assert keys.active() == signer
    assert [c.state for c in keys.published()] == [keys.ACTIVE, keys.STAGED]
    assert stat.S_IMODE(os.stat(saml_keys_file).st_mode) == 0o600
    assert not [name for name in os.listdir(saml_keys_file.parent) if name.endswith(".tmp")]


def test_stage_refuses_while_one_is_staged(saml_keys_file):
    run("--stage")
    before = saml_keys_file.read_text()
    with pytest.raises(CommandError, match="staged already.*--activate"):
        run("--stage")
    assert saml_keys_file.read_text() == before


def test_activate_refuses_without_a_staged_certificate(saml_keys_file):
    before = saml_keys_file.read_text()
    with pytest.raises(CommandError, match="--stage first.*metadata"):
        run("--activate")
    assert saml_keys_file.read_text() == before


def test_activate_signs_with_the_staged_one_and_retires_the_old(saml_keys_file):
    old = keys.active()
    run("--stage")
    staged = keys.published()[1]
    started = int(time.time())

    out, _ = run("--activate")

    signer = keys.active()
    assert signer.fingerprint == staged.fingerprint and signer.fingerprint in out
    assert [c.fingerprint for c in keys.published()] == [signer.fingerprint, old.fingerprint]
    first, second = stored(saml_keys_file)
    assert started <= first["retired"] <= int(time.time()) and second["retired"] is None
    with pytest.raises(CommandError):
        run("--activate")  # nothing staged any more


def test_the_first_certificate_in_production_is_staged_then_activated(settings, tmp_path):
    path = tmp_path / "prod" / "saml-keys.json"
    settings.DEBUG = False
    settings.SAML_SIGNING_KEYS = ""
    settings.SAML_KEYS_FILE = str(path)
    run("--stage")
    assert "staged" in keys.keyset_problem().reason
    run("--activate")
    assert keys.keyset_problem() is None
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_long_retired_certificate_is_dropped_at_the_next_stage(saml_keys_file, settings):
    settings.SAML_CERT_RETENTION = 60
    old = keys.active()
    run("--stage")
    run("--activate")
    keyset = json.loads(saml_keys_file.read_text())
    keyset["keys"][0]["retired"] = int(time.time()) - 61
    keys.write_keyset(keyset)

    run("--stage")

    fingerprints = [keys.fingerprint(entry["cert"]) for entry in stored(saml_keys_file)]
    assert old.fingerprint not in fingerprints and len(fingerprints) == 2


def test_keys_from_the_environment_are_printed_never_written(settings, tmp_path):
    keyset = keys.first_keyset()
    settings.SAML_SIGNING_KEYS = json.dumps(keyset)
    settings.SAML_KEYS_FILE = str(tmp_path / "unused.json")
    signer = keys.active()

    out, err = run("--stage")

    assert not (tmp_path / "unused.json").exists()
    assert "SAML_SIGNING_KEYS" in err
    printed = json.loads(out)
    assert printed["keys"][0] == keyset["keys"][0] and printed["keys"][1]["activated"] is None
    assert keys.active() == signer  # nothing changes until the operator sets it
    settings.SAML_SIGNING_KEYS = out
    assert [c.state for c in keys.published()] == [keys.ACTIVE, keys.STAGED]

    out, _ = run("--activate", "--print")
    settings.SAML_SIGNING_KEYS = out
    assert keys.active().cert_pem == printed["keys"][1]["cert"]


def test_print_with_a_keys_file_leaves_the_file_alone(saml_keys_file):
    before = saml_keys_file.read_text()
    out, _ = run("--stage", "--print")
    assert saml_keys_file.read_text() == before
    assert len(json.loads(out)["keys"]) == 2


def test_a_broken_keyset_is_refused_with_its_reason_only(saml_keys_file, settings):
    settings.DEBUG = False
    [entry] = stored(saml_keys_file)
    saml_keys_file.write_text(json.dumps({"keys": [entry]})[:1200])
    for args in ((), ("--stage",), ("--activate",)):
        with pytest.raises(CommandError) as raised:
            run(*args)
        assert "not a valid keyset" in str(raised.value) and "MII" not in str(raised.value)
    assert saml_keys_file.read_text().startswith('{"keys"')  # not replaced
