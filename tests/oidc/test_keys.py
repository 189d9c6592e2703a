"""The signing keys: where they come from, their rotation with `rotate_signing_key`, and the JWKS.

Each test works on its own copy of the test keyset (settings.OIDC_KEYS_FILE pointed at tmp_path), so
rotating never touches the keyset other tests use. ID tokens are checked with authlib against the
published JWKS, as an app would.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import stat
import time

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from oidc import keys
from oidc.app_settings import app_settings as oidc_settings
from oidc.logout import logout_token

from .relying_party import RelyingParty, register

pytestmark = pytest.mark.django_db


def kid_of(token: str) -> str:
    header = token.split(".", 1)[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


def published(rp: RelyingParty) -> list[str]:
    response = rp.http.get("/oauth/jwks/")
    assert response.status_code == 200
    return [key["kid"] for key in response.json()["keys"]]


def rotate() -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("rotate_signing_key", stdout=out, stderr=err)
    return out.getvalue()


def stored(path) -> list[dict]:
    return json.loads(open(path).read())["keys"]


def thumbprints(path) -> list[str]:
    from jwcrypto import jwk

    return [jwk.JWK.from_pem(entry["pem"].encode()).thumbprint() for entry in stored(path)]


@pytest.fixture
def keys_file(settings, tmp_path):
    """A private copy of the current keyset, used by the site for this test."""
    copy = tmp_path / "oidc-keys.json"
    shutil.copyfile(settings.OIDC_KEYS_FILE, copy)
    settings.OIDC_SIGNING_KEYS = ""
    settings.OIDC_KEYS_FILE = str(copy)
    return copy


def retire_long_ago(path, index: int = 0) -> None:
    """Pretend the key at `index` was retired longer ago than the retention."""
    keyset = json.loads(open(path).read())
    keyset["keys"][index]["retired"] = int(time.time()) - keys.retention() - 1
    keys.write_keyset(keyset)


# --- rotation ------------------------------------------------------------------------------------


def test_rotation_publishes_both_keys_and_new_tokens_use_the_new_one(keys_file, rp, signed_in_client):
    before = rp.sign_in_and_redeem(signed_in_client)
    old_kid = kid_of(before["id_token"])
    assert published(rp) == [old_kid]
    assert keys.active_key().kid == old_kid

    output = rotate()

    new_kid = keys.active_key().kid
    assert new_kid != old_kid
    assert new_kid in output and str(keys_file) in output
    assert sorted(published(rp)) == sorted([old_kid, new_kid])
    after = rp.sign_in_and_redeem(signed_in_client)
    assert kid_of(after["id_token"]) == new_kid
    # A token made before the rotation still validates against the JWKS.
    claims = rp.id_claims(before["id_token"])
    assert claims["sub"] == before["claims"]["sub"]
    # Refreshing a pre-rotation family gives an ID token signed with the new key.
    refreshed = rp.refresh(before["refresh_token"])
    assert refreshed.status_code == 200, refreshed.content
    assert kid_of(refreshed.json()["id_token"]) == new_kid
    rp.id_claims(refreshed.json()["id_token"])


def test_rotation_keeps_the_old_key_retired_in_the_file(keys_file):
    [old] = stored(keys_file)
    assert old["retired"] is None
    started = int(time.time())

    rotate()

    first, second = stored(keys_file)
    assert first["pem"] == old["pem"]
    assert started <= first["retired"] <= int(time.time())
    assert second["retired"] is None and second["created"] >= started
    assert stat.S_IMODE(os.stat(keys_file).st_mode) == 0o600
    assert not os.path.exists(str(keys_file.with_suffix(".tmp")))


def test_logout_tokens_are_signed_with_the_new_key_after_rotation(keys_file, rp, user):
    old_kid = keys.active_key().kid
    rotate()
    token = logout_token(rp.client, str(user.subject), "sid")
    assert kid_of(token) == keys.active_key().kid != old_kid


def test_an_old_id_token_is_still_a_valid_logout_hint_after_rotation(keys_file, user, signed_in_client):
    client, secret = register("Notes", post_logout_redirect_uris="https://rp.example/bye")
    rp = RelyingParty(client, secret)
    hint = rp.sign_in_and_redeem(signed_in_client)["id_token"]
    rotate()
    response = signed_in_client.get(
        "/oauth/logout/",
        {"id_token_hint": hint, "client_id": client.client_id, "post_logout_redirect_uri": "https://rp.example/bye"},
    )
    assert response.status_code == 302, response.content
    assert response["Location"].startswith("https://rp.example/bye")
    assert signed_in_client.get("/accounts/").status_code == 302  # signed out


def test_after_the_retention_a_retired_key_is_unpublished_and_dropped_at_the_next_rotation(
    keys_file, rp, signed_in_client
):
    before = rp.sign_in_and_redeem(signed_in_client)
    old_kid = kid_of(before["id_token"])
    rotate()
    middle_kid = keys.active_key().kid
    assert old_kid in published(rp)

    retire_long_ago(keys_file, 0)

    # No longer published, even before the next rotation; tokens it signed no longer validate.
    assert published(rp) == [middle_kid]
    with pytest.raises(ValueError, match="Key not found"):
        rp.id_claims(before["id_token"])

    rotate()

    newest_kid = keys.active_key().kid
    assert thumbprints(keys_file) == [middle_kid, newest_kid]
    assert sorted(published(rp)) == sorted([middle_kid, newest_kid])


def clock_at(offset: float):
    """A stand-in for the `time` module as seen by oidc.keys, `offset` seconds ahead."""
    real = time.time
    return type("Clock", (), {"time": staticmethod(lambda: real() + offset)})


def test_retention_counted_with_the_clock(keys_file, rp, monkeypatch):
    old_kid = keys.active_key().kid
    rotate()
    new_kid = keys.active_key().kid

    # Just inside the retention the old key is still published; once it has passed, it is gone.
    monkeypatch.setattr(keys, "time", clock_at(keys.retention() - 60))
    assert sorted(key.kid for key in keys.published_keys()) == sorted([old_kid, new_kid])
    monkeypatch.setattr(keys, "time", clock_at(keys.retention() + 5))
    assert [key.kid for key in keys.published_keys()] == [new_kid]
    assert published(rp) == [new_kid]
    rotate()
    assert old_kid not in thumbprints(keys_file)
    assert new_kid in thumbprints(keys_file)


def test_two_rotations_within_the_retention_publish_three_keys(keys_file, rp):
    kids = [keys.active_key().kid]
    for _ in range(2):
        rotate()
        kids.append(keys.active_key().kid)
    assert len(set(kids)) == 3
    assert sorted(published(rp)) == sorted(kids)
    assert [entry["retired"] is None for entry in stored(keys_file)] == [False, False, True]


def test_retention_covers_every_token_the_key_signed(settings):
    assert keys.retention() >= settings.OAUTH2_PROVIDER["ID_TOKEN_EXPIRE_SECONDS"]
    assert keys.retention() >= oidc_settings.OIDC_LOGOUT_TOKEN_LIFETIME


# --- the JWKS ------------------------------------------------------------------------------------


def test_jwks_holds_public_keys_only(keys_file, rp):
    rotate()
    response = rp.http.get("/oauth/jwks/")
    assert response["Access-Control-Allow-Origin"] == "*"
    for key in response.json()["keys"]:
        assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig"
        assert {"n", "e", "kid"} <= set(key)
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key), "private key material in the JWKS"
    assert "PRIVATE" not in response.content.decode()


# --- where the keys come from ---------------------------------------------------------------------


def test_a_missing_keys_file_without_debug_is_a_clear_configuration_error(settings, tmp_path):
    missing = tmp_path / "nope" / "oidc-keys.json"
    settings.OIDC_SIGNING_KEYS = ""
    settings.OIDC_KEYS_FILE = str(missing)
    settings.DEBUG = False
    with pytest.raises(ImproperlyConfigured) as raised:
        keys.active_key()
    message = str(raised.value)
    assert "OIDC_SIGNING_KEYS" in message
    assert "rotate_signing_key" in message
    assert str(missing) in message
    assert not missing.exists()


def test_a_missing_keys_file_in_development_is_generated_privately(settings, tmp_path):
    missing = tmp_path / "dev" / "oidc-keys.json"
    settings.OIDC_SIGNING_KEYS = ""
    settings.OIDC_KEYS_FILE = str(missing)
    settings.DEBUG = True
    key = keys.active_key()
    assert missing.exists()
    assert stat.S_IMODE(os.stat(missing).st_mode) == 0o600
    [entry] = stored(missing)
    assert entry["retired"] is None
    assert thumbprints(missing) == [key.kid]


def test_rotate_creates_the_first_key_when_there_is_none(settings, tmp_path):
    missing = tmp_path / "prod" / "oidc-keys.json"
    settings.OIDC_SIGNING_KEYS = ""
    settings.OIDC_KEYS_FILE = str(missing)
    settings.DEBUG = False
    output = rotate()
    [entry] = stored(missing)
    assert entry["retired"] is None
    assert keys.active_key().kid in output
    assert stat.S_IMODE(os.stat(missing).st_mode) == 0o600


def test_keys_from_the_environment_win_and_rotation_only_prints_the_next_keyset(settings, tmp_path, rp):
    env_keyset = {"keys": [keys.new_key_entry()]}
    settings.OIDC_SIGNING_KEYS = json.dumps(env_keyset)
    settings.OIDC_KEYS_FILE = str(tmp_path / "unused.json")
    env_kid = keys.active_key().kid
    assert published(rp) == [env_kid]

    out, err = io.StringIO(), io.StringIO()
    call_command("rotate_signing_key", stdout=out, stderr=err)

    assert not (tmp_path / "unused.json").exists()
    assert "OIDC_SIGNING_KEYS" in err.getvalue()
    printed = json.loads(out.getvalue())
    old, new = printed["keys"]
    assert old["pem"] == env_keyset["keys"][0]["pem"] and old["retired"] is not None
    assert new["retired"] is None and new["pem"] != old["pem"]
    assert keys.active_key().kid == env_kid  # nothing changes until the operator sets it
    settings.OIDC_SIGNING_KEYS = out.getvalue()
    assert keys.active_key().kid != env_kid
    assert env_kid in published(rp)


def test_a_keyset_with_no_active_key_is_a_clear_error(keys_file):
    keyset = json.loads(open(keys_file).read())
    keyset["keys"][0]["retired"] = int(time.time())
    keys.write_keyset(keyset)
    with pytest.raises(ImproperlyConfigured, match="no active"):
        keys.active_key()


def test_the_keys_file_is_reread_when_another_process_rotates_it(keys_file, rp, signed_in_client):
    first = keys.active_key().kid
    keyset = json.loads(open(keys_file).read())
    keys.write_keyset(keys.rotated(keyset))  # as `manage.py rotate_signing_key` on another node would
    assert keys.active_key().kid != first
    assert kid_of(rp.sign_in_and_redeem(signed_in_client)["id_token"]) == keys.active_key().kid
