"""The signing keys: where they come from, their rotation with `rotate_signing_key`, and the JWKS.

Each test works on its own copy of the test keyset (settings.OIDC_KEYS_FILE pointed at tmp_path), so
rotating never touches the keyset other tests use. ID tokens are checked with authlib against the
published JWKS, as an app would. The keyset holds a key of each type (RSA for RS256 apps, P-256 for
ES256 apps); the tests of one app's tokens run for an app of each algorithm.
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
from django.core.checks import WARNING
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.management import call_command
from jwcrypto import jwk

from oidc import checks, keys
from oidc.app_settings import app_settings as oidc_settings
from oidc.logout import logout_token
from oidc.models import Client

from .relying_party import SECRET, RelyingParty, approve, register

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
    return [jwk.JWK.from_pem(entry["pem"].encode()).thumbprint() for entry in stored(path)]


def active_kids() -> list[str]:
    """The kid of the key that signs now, for each algorithm."""
    return sorted(keys.active_key(alg).kid for alg in keys.ALGORITHMS.values())


@pytest.fixture(params=["ES256", "RS256"])
def app(request, db) -> RelyingParty:
    """A confidential app whose tokens are signed with the parameter's algorithm."""
    client, secret = register(f"{request.param} app", algorithm=request.param)
    return RelyingParty(client, secret)


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


def test_rotation_publishes_both_keys_and_new_tokens_use_the_new_one(keys_file, app, signed_in_client):
    rp, alg = app, app.client.algorithm
    before = rp.sign_in_and_redeem(signed_in_client)
    old_kid = kid_of(before["id_token"])
    old_kids = active_kids()
    assert sorted(published(rp)) == old_kids and old_kid in old_kids
    assert keys.active_key(alg).kid == old_kid

    output = rotate()

    new_kid = keys.active_key(alg).kid
    assert new_kid != old_kid
    assert all(kid in output for kid in active_kids()) and str(keys_file) in output
    assert sorted(published(rp)) == sorted(old_kids + active_kids())
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


def test_rotation_keeps_the_old_keys_retired_in_the_file(keys_file):
    old = stored(keys_file)
    assert sorted(entry["kty"] for entry in old) == ["EC", "RSA"]
    assert all(entry["retired"] is None for entry in old)
    started = int(time.time())

    rotate()

    retired, new = stored(keys_file)[:2], stored(keys_file)[2:]
    assert [entry["pem"] for entry in retired] == [entry["pem"] for entry in old]
    assert all(started <= entry["retired"] <= int(time.time()) for entry in retired)
    assert sorted(entry["kty"] for entry in new) == ["EC", "RSA"]  # a new key of every type
    assert all(entry["retired"] is None and entry["created"] >= started for entry in new)
    assert stat.S_IMODE(os.stat(keys_file).st_mode) == 0o600
    assert not os.path.exists(str(keys_file.with_suffix(".tmp")))


def test_logout_tokens_are_signed_with_the_new_key_after_rotation(keys_file, app, user):
    alg = app.client.algorithm
    old_kid = keys.active_key(alg).kid
    rotate()
    token = logout_token(app.client, str(user.subject), "sid")
    assert kid_of(token) == keys.active_key(alg).kid != old_kid


@pytest.mark.parametrize("algorithm", ["ES256", "RS256"])
def test_an_old_id_token_is_still_a_valid_logout_hint_after_rotation(keys_file, user, signed_in_client, algorithm):
    client, secret = register("Notes", post_logout_redirect_uris="https://rp.example/bye", algorithm=algorithm)
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
    keys_file, app, signed_in_client
):
    rp = app
    before = rp.sign_in_and_redeem(signed_in_client)
    old_kid = kid_of(before["id_token"])
    rotate()
    middle_kids = active_kids()
    assert old_kid in published(rp)

    retire_long_ago(keys_file, 0)
    retire_long_ago(keys_file, 1)

    # No longer published, even before the next rotation; tokens they signed no longer validate.
    assert sorted(published(rp)) == middle_kids
    with pytest.raises(ValueError, match="Key not found"):
        rp.id_claims(before["id_token"])

    rotate()

    newest_kids = active_kids()
    assert sorted(thumbprints(keys_file)) == sorted(middle_kids + newest_kids)
    assert sorted(published(rp)) == sorted(middle_kids + newest_kids)


def clock_at(offset: float):
    """A stand-in for the `time` module as seen by oidc.keys, `offset` seconds ahead."""
    real = time.time
    return type("Clock", (), {"time": staticmethod(lambda: real() + offset)})


def test_retention_counted_with_the_clock(keys_file, rp, monkeypatch):
    old_kids = active_kids()
    rotate()
    new_kids = active_kids()

    # Just inside the retention the old keys are still published; once it has passed, they are gone.
    monkeypatch.setattr(keys, "time", clock_at(keys.retention() - 60))
    assert sorted(key.kid for key in keys.published_keys()) == sorted(old_kids + new_kids)
    monkeypatch.setattr(keys, "time", clock_at(keys.retention() + 5))
    assert sorted(key.kid for key in keys.published_keys()) == new_kids
    assert sorted(published(rp)) == new_kids
    rotate()
    assert not set(old_kids) & set(thumbprints(keys_file))
    assert set(new_kids) <= set(thumbprints(keys_file))


def test_two_rotations_within_the_retention_publish_three_keys_of_each_type(keys_file, rp):
    kids = active_kids()
    for _ in range(2):
        rotate()
        kids += active_kids()
    assert len(set(kids)) == 6
    assert sorted(published(rp)) == sorted(kids)
    assert [entry["retired"] is None for entry in stored(keys_file)] == [False] * 4 + [True] * 2


def test_retention_covers_every_token_the_key_signed(settings):
    assert keys.retention() >= settings.OAUTH2_PROVIDER["ID_TOKEN_EXPIRE_SECONDS"]
    assert keys.retention() >= oidc_settings.OIDC_LOGOUT_TOKEN_LIFETIME


# --- the JWKS ------------------------------------------------------------------------------------


def test_jwks_holds_public_keys_only(keys_file, rp):
    rotate()
    response = rp.http.get("/oauth/jwks/")
    assert response["Access-Control-Allow-Origin"] == "*"
    published_keys = response.json()["keys"]
    assert sorted(key["kty"] for key in published_keys) == ["EC", "EC", "RSA", "RSA"]
    for key in published_keys:
        assert key["use"] == "sig" and key["kid"]
        if key["kty"] == "RSA":
            assert key["alg"] == "RS256" and {"n", "e"} <= set(key)
        else:
            assert key["alg"] == "ES256" and key["crv"] == "P-256" and {"x", "y"} <= set(key)
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key), "private key material in the JWKS"
    assert "PRIVATE" not in response.content.decode()


# --- where the keys come from ---------------------------------------------------------------------


def test_a_missing_keys_file_without_debug_is_a_clear_configuration_error(settings, tmp_path):
    missing = tmp_path / "nope" / "oidc-keys.json"
    settings.OIDC_SIGNING_KEYS = ""
    settings.OIDC_KEYS_FILE = str(missing)
    settings.DEBUG = False
    with pytest.raises(ImproperlyConfigured) as raised:
        keys.active_key("ES256")
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
    key = keys.active_key("ES256")
    assert missing.exists()
    assert stat.S_IMODE(os.stat(missing).st_mode) == 0o600
    assert sorted(entry["kty"] for entry in stored(missing)) == ["EC", "RSA"]
    assert all(entry["retired"] is None for entry in stored(missing))
    assert sorted(thumbprints(missing)) == active_kids() and key.kid in active_kids()


def test_rotate_creates_the_first_key_when_there_is_none(settings, tmp_path):
    missing = tmp_path / "prod" / "oidc-keys.json"
    settings.OIDC_SIGNING_KEYS = ""
    settings.OIDC_KEYS_FILE = str(missing)
    settings.DEBUG = False
    output = rotate()
    assert sorted(entry["kty"] for entry in stored(missing)) == ["EC", "RSA"]
    assert all(entry["retired"] is None for entry in stored(missing))
    assert all(kid in output for kid in active_kids())
    assert stat.S_IMODE(os.stat(missing).st_mode) == 0o600


def test_keys_from_the_environment_win_and_rotation_only_prints_the_next_keyset(settings, tmp_path, rp):
    env_keyset = keys.new_keyset()
    settings.OIDC_SIGNING_KEYS = json.dumps(env_keyset)
    settings.OIDC_KEYS_FILE = str(tmp_path / "unused.json")
    env_kids = active_kids()
    assert sorted(published(rp)) == env_kids

    out, err = io.StringIO(), io.StringIO()
    call_command("rotate_signing_key", stdout=out, stderr=err)

    assert not (tmp_path / "unused.json").exists()
    assert "OIDC_SIGNING_KEYS" in err.getvalue()
    printed = json.loads(out.getvalue())
    old, new = printed["keys"][:2], printed["keys"][2:]
    assert [entry["pem"] for entry in old] == [entry["pem"] for entry in env_keyset["keys"]]
    assert all(entry["retired"] is not None for entry in old)
    assert sorted(entry["kty"] for entry in new) == ["EC", "RSA"] and all(entry["retired"] is None for entry in new)
    assert active_kids() == env_kids  # nothing changes until the operator sets it
    settings.OIDC_SIGNING_KEYS = out.getvalue()
    assert not set(active_kids()) & set(env_kids)
    assert set(env_kids) <= set(published(rp))


def test_a_keyset_with_no_active_key_is_a_clear_error(keys_file):
    keyset = json.loads(open(keys_file).read())
    for entry in keyset["keys"]:
        entry["retired"] = int(time.time())
    keys.write_keyset(keyset)
    with pytest.raises(ImproperlyConfigured, match="no active"):
        keys.active_key("ES256")
    assert "no active (unretired) key" in keys.keyset_problem().reason


def test_the_keys_file_is_reread_when_another_process_rotates_it(keys_file, app, signed_in_client):
    alg = app.client.algorithm
    first = keys.active_key(alg).kid
    keyset = json.loads(open(keys_file).read())
    keys.write_keyset(keys.rotated(keyset))  # as `manage.py rotate_signing_key` on another node would
    assert keys.active_key(alg).kid != first
    assert kid_of(app.sign_in_and_redeem(signed_in_client)["id_token"]) == keys.active_key(alg).kid


# --- keysets from before ES256 ----------------------------------------------------------------------


@pytest.fixture
def rsa_only(keys_file):
    """The keyset as it was before ES256: its active RSA key, its entries without a `kty`."""
    keyset = json.loads(open(keys_file).read())
    keyset["keys"] = [
        {name: value for name, value in entry.items() if name != "kty"}
        for entry in keyset["keys"]
        if entry["kty"] == "RSA"
    ]
    keys.write_keyset(keyset)
    return keys_file


def test_a_keyset_from_before_es256_still_signs_for_rs256_apps_and_says_what_to_run(
    rsa_only, signed_in_client, settings
):
    settings.DEBUG = False
    client, secret = register("Old app", algorithm="RS256")  # as migration 0011 left every app
    rp = RelyingParty(client, secret)
    before = rp.sign_in_and_redeem(signed_in_client)
    assert before["claims"]["sub"]

    # Not a startup error (every existing app keeps working), but a warning naming the command.
    assert checks.signing_keys_usable() == [] and keys.keyset_problem() is None
    [warning] = checks.every_algorithm_has_a_key()
    assert warning.id == "oidc.W002" and "ES256" in warning.msg and "manage.py rotate_signing_key" in warning.hint
    assert warning.level == WARNING
    # No app can be set to ES256 until there is a key for it ...
    with pytest.raises(ValidationError) as refused:
        register("New app")
    assert "rotate_signing_key" in str(refused.value.message_dict["algorithm"])
    # ... and one that was, somehow, gets a 503, not a token signed with another algorithm.
    stray = Client.objects.create(
        name="Stray", client_type=Client.CLIENT_CONFIDENTIAL, authorization_grant_type=Client.GRANT_AUTHORIZATION_CODE,
        redirect_uris=rp.client.redirect_uris, client_secret=SECRET, algorithm="ES256",
    )  # fmt: skip
    request = RelyingParty(stray, SECRET).authorization()
    code = RelyingParty.callback(approve(signed_in_client, request["url"]))["code"]
    refused_token = RelyingParty(stray, SECRET).redeem(code, request["verifier"])
    assert refused_token.status_code == 503 and refused_token.json()["error"] == "temporarily_unavailable"

    output = rotate()

    assert {entry.get("kty", "RSA") for entry in stored(rsa_only) if entry["retired"] is None} == {"RSA", "EC"}
    assert checks.every_algorithm_has_a_key() == []
    assert keys.active_key("ES256").kid in output
    rp.id_claims(before["id_token"])  # the old RSA key stays published
    register("New app")
    # The stray app's code survived the 503 (nothing is stored before the ID token is signed).
    assert RelyingParty(stray, SECRET).redeem(code, request["verifier"]).status_code == 200


def test_a_keyset_from_before_es256_in_the_environment_is_told_to_set_the_printed_keyset(rsa_only, settings):
    settings.OIDC_SIGNING_KEYS = open(rsa_only).read()
    [warning] = checks.every_algorithm_has_a_key()
    assert "OIDC_SIGNING_KEYS" in warning.hint and "rotate_signing_key" in warning.hint


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param(lambda: {**keys.new_key_entry("RS256"), "kty": "EC"}, id="RSA key said to be EC"),
        pytest.param(
            lambda: {k: v for k, v in keys.new_key_entry("ES256").items() if k != "kty"}, id="EC key without kty"
        ),
        pytest.param(lambda: {**keys.new_key_entry("RS256"), "kty": "oct"}, id="unknown type"),
        pytest.param(
            lambda: {
                **keys.new_key_entry("ES256"),
                "pem": jwk.JWK.generate(kty="EC", crv="P-384").export_to_pem(private_key=True, password=None).decode(),
            },
            id="EC key on P-384",
        ),
        pytest.param(
            lambda: {
                **keys.new_key_entry("ES256"),
                "pem": jwk.JWK.generate(kty="EC", crv="P-256").export_to_pem().decode(),
            },
            id="public key only",
        ),
    ],
)
def test_an_entry_that_is_not_the_key_it_says_is_not_a_valid_keyset(keys_file, entry):
    """A key is used with the one algorithm of its type: an entry whose key is of another type or curve
    than it says is refused as a whole, never used with the wrong algorithm."""
    keys.write_keyset({"keys": [*keys.new_keyset()["keys"], entry()]})
    with pytest.raises(ImproperlyConfigured, match="is not a valid keyset"):
        keys.active_key("RS256")
    assert "is not a valid keyset" in keys.keyset_problem().reason
