"""oidc overrides private methods of django-oauth-toolkit (DOT). pyproject pins DOT to the minor
version these were read from; this test fails, by name, when an upgrade renames a hook or changes its
parameters, instead of letting our override silently stop being called."""

from __future__ import annotations

import inspect

import pytest
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.views import oidc

from oidc.validators import IdentityValidator

# Each private hook we override or call, with the parameters our code relies on.
VALIDATOR_HOOKS = {
    "_check_secret": ["self", "provided_secret", "stored_secret"],
    "_create_authorization_code": ["self", "request", "code", "expires"],
    "_create_access_token": ["self", "expires", "request", "token", "source_refresh_token"],
    "_create_refresh_token": ["self", "request", "refresh_token_code", "access_token", "previous_refresh_token"],
    "_get_key_for_token": ["self", "token"],
    "_load_id_token": ["self", "token"],
    # Public, but replaced whole (oidc.signing signs): oauthlib must keep calling it with these.
    "finalize_id_token": ["self", "id_token", "token", "token_handler", "request"],
}


@pytest.mark.parametrize("name", sorted(VALIDATOR_HOOKS))
def test_the_validator_hooks_we_override_still_exist_with_their_parameters(name):
    hook = getattr(OAuth2Validator, name, None)
    assert hook is not None, f"DOT no longer has OAuth2Validator.{name}: our override is dead code"
    assert list(inspect.signature(hook).parameters) == VALIDATOR_HOOKS[name]
    assert name in IdentityValidator.__dict__, f"IdentityValidator no longer overrides {name}"


def test_the_id_token_loader_we_call_still_exists():
    """oidc/flows.py reads an id_token_hint with DOT's module-level `_load_id_token`."""
    assert list(inspect.signature(oidc._load_id_token).parameters) == ["token"]
