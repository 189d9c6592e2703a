"""django-oauth-toolkit's validator, taught what Identity knows.

- the ID token says how and when the person authenticated (`auth_time`, `amr`, `acr`, `sid`), taken
  from the session when the code was issued and kept with the token family for refreshes;
- `sub` is the person's opaque subject, never the database id;
- a replayed code revokes every token made from it (RFC 6749 §4.1.2, RFC 9700 §4.5);
- a code whose session has ended (signed out, evicted, its password changed) brings nothing;
- a code is redeemed only with the `redirect_uri` its authorization request named (RFC 6749 §4.1.3);
- a code exchange brings a refresh token only for `offline_access` (OpenID Connect Core 11);
- refresh tokens have an absolute lifetime counted from the first exchange, and stop for inactive people;
- a code or a refresh brings only the scopes the app may still ask for (a grant an admin withdrew is gone);
- ID tokens are signed with the app's algorithm (RS256 or ES256) and name their key (`kid`), through
  `oidc.signing`; ID token hints are checked against every published key, found by `kid`, and only
  with the algorithm that key signs with;
- `roles` and `groups` come from the directory (oidc.authorization), recomputed for every token, and a
  refresh, a code exchange or a bearer token for someone an assignment-required app no longer admits
  is refused.
- an access token for an API (its scopes, or `resource`, RFC 8707) has that API as its audience,
  checked in `oidc.audience` wherever scopes are decided, and is a JWT (`oidc.access_tokens`); userinfo
  takes none of them.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from django.utils import timezone
from jwcrypto import jws
from oauth2_provider.models import (
    get_access_token_model,
    get_id_token_model,
    get_refresh_token_model,
    refresh_token_expire_timedelta,
    set_token_value,
)
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.settings import oauth2_settings
from oauthlib.oauth2.rfc6749 import errors

from identity.metrics import AUTHORIZATION_REFUSALS

from . import audience, authorization, rotation, rows, signing
from .app_settings import app_settings
from .models import AuthContext, AuthorizationCode, Client, TokenFamily
from .revocation import code_hash, revoke_code, session_ended
from .scopes import still_available

AccessToken, IDToken, RefreshToken = get_access_token_model(), get_id_token_model(), get_refresh_token_model()
_CLIENT = rows.Reader([("c", Client)], rows.table(Client) + " c", "WHERE c.client_id = %s")


class IdentityValidator(OAuth2Validator):
    oidc_claim_scope = {
        "sub": "openid",
        "email": "email",
        "email_verified": "email",
        "name": "profile",
        **authorization.CLAIM_SCOPES,
    }

    # --- the client, read with oidc.rows (DOT's ORM query cost more than the rest of a grant) ----

    def _load_application(self, client_id, request):
        if isinstance(client_id, str) and "\x00" in client_id:
            # No client has one (PostgreSQL text cannot hold it). DOT expects psycopg2's ValueError for
            # it; psycopg 3 raises DataError, which made every endpoint that names a client a 500.
            request.client = None
            return None
        if not request.client and isinstance(client_id, str):
            found = _CLIENT.one([client_id])
            request.client = found[0] if found else None
        return super()._load_application(client_id, request)  # DOT's checks, on the client read here

    # --- prompt=none is decided by the authorization view before oauthlib sees the request -----

    def validate_silent_login(self, request) -> bool:
        return True

    def validate_silent_authorization(self, request) -> bool:
        return True

    def _check_secret(self, provided_secret, stored_secret):
        # A public client has no secret: an empty one must never count as "authenticated".
        if not provided_secret or not stored_secret:
            return False
        return super()._check_secret(provided_secret, stored_secret)

    # --- scopes and audiences (oidc.audience) --------------------------------------------------

    def validate_scopes(self, client_id, scopes, client, request, *args, **kwargs):
        """Only scopes the app was allowed or granted; then their API, which `resource` must name if
        sent (authorization requests and client credentials; codes and refreshes keep theirs)."""
        if not super().validate_scopes(client_id, scopes, client, request, *args, **kwargs):
            return False
        api = audience.select_api(scopes, audience.requested_resources(request), request)
        request.resource = [api.identifier] if api else []
        return True

    def get_original_scopes(self, refresh_token, request, *args, **kwargs):
        """A refresh keeps its token's API: a `resource` naming another, or naming it while the scopes
        asked for (a narrowing) hold none of its, is invalid_target. It brings only the scopes the app
        may still ask for (an admin may have withdrawn a grant since)."""
        scopes = super().get_original_scopes(refresh_token, request, *args, **kwargs)
        original = scopes.split() if isinstance(scopes, str) else list(scopes)
        # Only what the app may still ask for: a withdrawn grant brings no more tokens for its API.
        original = still_available(request.client, original)
        if not original:
            raise errors.InvalidScopeError(description="The app may no longer ask for these scopes.", request=request)
        asked = audience.requested_resources(request)
        audience.select_api(original, asked, request)
        if asked and request.scope:
            audience.select_api(request.scope.split(), asked, request)
        return " ".join(original)

    def _check_and_set_request_resource(self, request):
        # DOT's own handling refuses URN identifiers; the audience was checked where the scopes were
        # decided (above and validate_code): the token names the API of its final scopes.
        api = audience.token_api(request)
        request.resource = [api.identifier] if api else []

    def validate_bearer_token(self, token, scopes, request):
        """Userinfo is the one resource of ours that takes bearer tokens, and a token for an API is not
        for it (its audience is the API, RFC 9068 §4): the app has the ID token, or a token without the
        API's scopes (a refresh narrowed to them). Nor is a token of someone an assignment-required app
        no longer admits."""
        if not super().validate_bearer_token(token, scopes, request):
            return False
        if audience.token_owner(request.access_token) is not None:
            request.oauth2_error = {
                "error": "invalid_token",
                "error_description": "This access token is for an API, not for userinfo.",
            }
            return False
        return authorization.admits(request.access_token)

    # --- codes ----------------------------------------------------------------------------------

    def _create_authorization_code(self, request, code, expires=None):
        grant = super()._create_authorization_code(request, code, expires)
        context = getattr(request, "auth_context", None) or {}
        AuthorizationCode.objects.filter(pk=grant.pk).update(**AuthContext.fields_from(context))
        return grant

    @staticmethod
    def _grant(code, request, client=None) -> AuthorizationCode | None:
        """The code's row, read once per token request: oauthlib asks for its scopes, nonce, PKCE challenge
        and redirect URI one by one, and DOT read the row again for each (six times per exchange). With
        `client`, only that app's code."""
        cached = getattr(request, "_identity_grant", None)
        if cached is None or cached[0] != code:
            cached = (code, AuthorizationCode.objects.select_related("user").filter(code=code).first())
            request._identity_grant = cached
        grant = cached[1]
        if grant is not None and client is not None and grant.application_id != client.pk:
            return None
        return grant

    def validate_code(self, client_id, code, client, request, *args, **kwargs):
        grant = self._grant(code, request, client)
        if grant is None:
            revoke_code(code)  # a spent (or forged) code: whatever it already bought is revoked
            return False
        if not grant.user.is_active or session_ended(grant.session_ref):
            return False
        if not authorization.may_sign_in(grant.user, client):
            AUTHORIZATION_REFUSALS.labels("not_assigned", "token").inc()  # unassigned since the code was issued
            return False
        if grant.is_expired():  # then what DOT's validate_code does
            return False
        request.scopes = grant.scope.split(" ")
        request.user = grant.user
        if grant.nonce:
            request.nonce = grant.nonce
        if grant.claims:
            request.claims = json.loads(grant.claims)
        request.scopes = still_available(client, request.scopes)  # a grant withdrawn since the code was issued
        if not request.scopes:
            return False
        asked = audience.requested_resources(request)
        if asked and asked != (grant.resource or []):
            raise audience.InvalidTarget("The code was not issued for this resource.", request)
        request.auth_context = grant.auth_context()
        request.code_hash = code_hash(code)
        return True

    def get_code_challenge(self, code, request):
        grant = self._grant(code, request, request.client)
        return (grant.code_challenge or None) if grant else None

    def get_code_challenge_method(self, code, request):
        grant = self._grant(code, request, request.client)
        return (grant.code_challenge_method or None) if grant else None

    def get_authorization_code_scopes(self, client_id, code, redirect_uri, request):
        grant = self._grant(code, request)
        return grant.scope.split() if grant and grant.scope else []

    def get_authorization_code_nonce(self, client_id, code, redirect_uri, request):
        grant = self._grant(code, request)
        return (grant.nonce or None) if grant else None

    def get_default_redirect_uri(self, client_id, request, *args, **kwargs):
        # There is no default: the authorize view refuses a request without redirect_uri, so every
        # code is bound to one, and the token request must repeat it (RFC 6749 §4.1.3, OpenID Connect
        # Core 3.1.3.1). oauthlib would otherwise fill in the app's only registered URI.
        raise errors.InvalidGrantError(
            description="redirect_uri is required: send the one the authorization request used.", request=request
        )

    def confirm_redirect_uri(self, client_id, code, redirect_uri, client, request, *args, **kwargs):
        grant = self._grant(code, request, client)
        if grant is None or not grant.redirect_uri_allowed(redirect_uri):
            # RFC 6749 §5.2 names this invalid_grant (oauthlib's default error says invalid_request).
            raise errors.InvalidGrantError(
                description="redirect_uri does not match the authorization request.", request=request
            )
        return True

    def invalidate_authorization_code(self, client_id, code, request, *args, **kwargs):
        # Two exchanges of one code racing each other: the loser's deletion finds nothing. Both
        # already minted tokens, so the code counts as replayed and everything from it is revoked.
        deleted, _ = AuthorizationCode.objects.filter(code=code, application=request.client).delete()
        if not deleted:
            revoke_code(code)
            raise errors.InvalidGrantError(request=request)

    # --- tokens ---------------------------------------------------------------------------------

    def save_bearer_token(self, token, request, *args, **kwargs):
        # oauthlib mints a refresh token with every code exchange; what leaves the token endpoint is this
        # dict, so a refresh token dropped here is never stored nor sent. Refreshes keep rotating.
        if request.grant_type == "authorization_code" and not request.client.gets_refresh_token(request.scopes):
            token.pop("refresh_token", None)
        try:
            return super().save_bearer_token(token, request, *args, **kwargs)
        except rotation.Replayed as replay:
            # After DOT's transaction rolled back, so that the family's revocation stays.
            RefreshToken.revoke_family(replay.family)
            raise errors.InvalidGrantError(request=request) from None

    def _create_access_token(self, expires, request, token, source_refresh_token=None):
        # DOT's, without reading back the ID token it signed a moment ago (finalize_id_token keeps the row).
        id_token = getattr(request, "id_token", None) if "id_token" in token else None
        access_token = AccessToken(
            user=request.user,
            scope=token["scope"],
            expires=expires,
            id_token=id_token if isinstance(id_token, IDToken) else None,
            application=request.client,
            source_refresh_token=source_refresh_token,
            resource=getattr(request, "resource", []),  # RFC 8707
        )
        set_token_value(access_token, token["access_token"])
        rows.insert(access_token)
        if "refresh_token" not in token and getattr(request, "code_hash", None):
            # A code exchange without offline access: a family of one access token, so replay detection,
            # ended sessions and "remove access" still find and revoke it.
            self._start_family(request, uuid.uuid4(), access_token=access_token)
        return access_token

    def _start_family(self, request, family, access_token=None) -> None:
        TokenFamily.objects.create(
            family=family,
            client=request.client,
            user=request.user,
            code_hash=request.code_hash,
            access_token=access_token,
            **AuthContext.fields_from(request.auth_context),
        )

    def _create_refresh_token(self, request, refresh_token_code, access_token, previous_refresh_token):
        # DOT's, written with oidc.rows; a code exchange starts the token family.
        refresh_token = RefreshToken(
            user=request.user,
            application=request.client,
            access_token=access_token,
            token_family=previous_refresh_token.token_family if previous_refresh_token else uuid.uuid4(),
            resource=getattr(request, "resource", []),  # RFC 8707
        )
        set_token_value(refresh_token, refresh_token_code)
        rows.insert(refresh_token)
        if previous_refresh_token is None and getattr(request, "code_hash", None):
            self._start_family(request, refresh_token.token_family)
        return refresh_token

    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs):
        """DOT's checks (oidc.rotation reads the token, its access token, person and family in one
        query), then ours. A token that comes back after it was spent revokes its family."""
        found = rotation.find(refresh_token)
        if found is None:
            return False
        rt = found.token
        if rt.revoked is not None:  # no grace period: a spent token presented again is a replay
            RefreshToken.revoke_family(rt.token_family)
            return False
        if rt.access_token is None:  # an orphan: its access token was deleted out of band
            return False
        idle = refresh_token_expire_timedelta()  # DOT's reading of REFRESH_TOKEN_EXPIRE_SECONDS (None: no limit)
        if idle and rt.access_token.expires + idle <= timezone.now():
            return False
        if rt.application_id != client.pk:
            return False
        request.user = rt.user
        request.refresh_token = refresh_token
        request.refresh_token_instance = rt
        if not request.user.is_active:
            return False
        if not authorization.may_sign_in(request.user, client):
            AUTHORIZATION_REFUSALS.labels("not_assigned", "token").inc()
            return False
        family = found.family
        if family is None or family.revoked_at is not None:
            return False
        if timezone.now() - family.created_at > timedelta(seconds=app_settings.OIDC_REFRESH_TOKEN_ABSOLUTE_LIFETIME):
            return False
        request.auth_context = family.auth_context()
        return True

    def _save_bearer_token(self, token, request, *args, **kwargs):
        """A refresh rotates here (oidc.rotation); everything else is DOT's. The old token is spent only
        if it is still live: the loser of two requests racing with one token is a replay."""
        if request.grant_type != "refresh_token" or "refresh_token" not in token:
            return super()._save_bearer_token(token, request, *args, **kwargs)
        if "scope" not in token:
            raise errors.FatalClientError("Failed to renew access token: missing scope")
        self._check_and_set_request_resource(request)
        expires = timezone.now() + timedelta(
            seconds=token.get("expires_in", oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS)
        )
        previous = request.refresh_token_instance
        if not rotation.spend(previous):
            raise rotation.Replayed(previous.token_family)
        access_token = self._create_access_token(expires, request, token, source_refresh_token=previous)
        self._create_refresh_token(request, token["refresh_token"], access_token, previous)

    # --- claims ---------------------------------------------------------------------------------

    def _save_id_token(self, jti, request, expires, *args, **kwargs):
        return rows.insert(
            IDToken(
                user=request.user,
                scope=request.scope or " ".join(request.scopes),
                expires=expires,
                jti=jti,
                application=request.client,
            )
        )

    def get_claim_dict(self, request):
        user = request.user
        claims = {"sub": str(user.subject), "email": user.email, "email_verified": user.email_verified}
        if user.display_name:
            claims["name"] = user.display_name
        claims.update(authorization.claims(request.client))
        return claims

    def get_discovery_claims(self, request):
        return [*self.oidc_claim_scope, "auth_time", "amr", "acr", "sid", "iss", "aud", "exp", "iat", "nonce"]

    def get_id_token_dictionary(self, token, token_handler, request):
        claims, expiration = super().get_id_token_dictionary(token, token_handler, request)
        context = getattr(request, "auth_context", None) or {}
        claims.update({claim: value for claim, value in context.items() if value})
        return authorization.limit_groups(claims), expiration

    def finalize_id_token(self, id_token, token, token_handler, request):
        """DOT's, but signed through oidc.signing with the app's algorithm, every token naming its key
        (DOT's sends a `kid` for RS256 only and signs with `client.jwk_key`, a single key)."""
        claims, expiration_time = self.get_id_token_dictionary(token, token_handler, request)
        id_token.update(**claims)
        if "nonce" not in id_token and request.nonce:  # oauthlib bug #746, as DOT works around it
            id_token["nonce"] = request.nonce
        signed = signing.sign(id_token, alg=request.client.algorithm, typ="JWT")
        record = self._save_id_token(id_token["jti"], request, expiration_time)  # one INSERT: atomic by itself
        request.access_token = request.id_token = record  # as DOT leaves them
        return signed

    def _get_key_for_token(self, token):
        """DOT asks for the key of an ID token hint (logout, prompt=none, the access token's link to its
        ID token) and verifies with the token's own `alg`: so only a key whose algorithm is that one."""
        key = signing.verification_key(token)
        return key.key if key is not None else None

    def _load_id_token(self, token):
        try:
            return super()._load_id_token(token)
        except (ValueError, KeyError, jws.InvalidJWSObject):
            return None
