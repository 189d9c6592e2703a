"""Ending what was granted to relying apps: one family of tokens, a session's, an app's, or everything.

Every path ends in `_revoke`: refresh tokens of the family are revoked and its access tokens deleted
(DOT's `revoke_family`, or the family's one access token when it has no refresh token), the family is
marked, and apps with a back-channel logout URI are told.

Authorization codes not yet exchanged are deleted with the access they would bring. An ended session
is also remembered in Redis for as long as a code can live, so a code written by a request that read
the session just before it ended (after the deletion) is still refused at the token endpoint.
"""

from __future__ import annotations

import hashlib
import logging

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_grant_model, get_refresh_token_model
from oauth2_provider.settings import oauth2_settings

from accounts.audit import record_event
from accounts.models import SecurityEvent
from identity.redis import connection

from .logout import notify_logout
from .models import AuthorizationCode, Consent, TokenFamily

log = logging.getLogger(__name__)


ENDED_SESSION_PREFIX = "oidc-ended-session:"
# A request that read the session before it ended may write its code a little later: the longest a
# request runs (gunicorn's timeout) fits in this margin, on top of the code's own lifetime.
ENDED_SESSION_MARGIN = 300


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def session_ended(session_ref: str) -> bool:
    """Did this session end recently enough that one of its codes may still be outstanding? One round
    trip, only for a code exchange."""
    return bool(session_ref) and bool(connection().exists(ENDED_SESSION_PREFIX + session_ref))


def _void_codes_of_ended_sessions(user_id, refs: list[str]) -> None:
    ttl = oauth2_settings.AUTHORIZATION_CODE_EXPIRE_SECONDS + ENDED_SESSION_MARGIN
    pipe = connection().pipeline(transaction=False)
    for ref in refs:
        pipe.set(ENDED_SESSION_PREFIX + ref, 1, ex=ttl)
    pipe.execute()  # first the mark, then the deletion: a code written in between is refused by the mark
    AuthorizationCode.objects.filter(user_id=user_id, session_ref__in=refs).delete()


def _revoke(families, *, notify: bool = True, by_session: bool = True) -> int:
    families = list(families.select_related("client", "user"))
    RefreshToken = get_refresh_token_model()
    with transaction.atomic():
        for family in families:
            RefreshToken.revoke_family(family.family)
        # A family without refresh tokens (no offline_access) is its one access token.
        single = [family.access_token_id for family in families if family.access_token_id]
        get_access_token_model().objects.filter(pk__in=single).delete()
        TokenFamily.objects.filter(pk__in=[family.pk for family in families]).update(revoked_at=timezone.now())
    if notify:
        told = set()
        for family in families:
            sid = family.session_ref if by_session else ""
            if family.client.backchannel_logout_uri and (family.client_id, sid) not in told:
                told.add((family.client_id, sid))
                notify_logout(family.client, family.user, sid)
    return len(families)


def revoke_sessions(user_id, refs: list[str]) -> int:
    """These sessions ended: their codes and their apps' tokens stop working and the apps are told (by `sid`)."""
    refs = [ref for ref in refs if ref]
    if not refs:
        return 0
    _void_codes_of_ended_sessions(user_id, refs)
    return _revoke(TokenFamily.objects.filter(user_id=user_id, session_ref__in=refs, revoked_at__isnull=True))


def revoke_user(user, keep_refs=()) -> int:
    """Nothing granted on this person's behalf may keep working; every app is told (by `sub`).

    Every family and every outstanding code goes, whether or not its session is still alive (one that
    idled out is in no session index any more, so ending sessions alone would miss it), except those of
    the sessions in `keep_refs`.
    Then apps are told of each ended session (by `sid`) instead, so the kept session stays signed in
    to them too.
    """
    families = TokenFamily.objects.filter(user=user, revoked_at__isnull=True)
    codes = AuthorizationCode.objects.filter(user=user)
    kept = [ref for ref in keep_refs if ref]
    if kept:
        families = families.exclude(session_ref__in=kept)
        codes = codes.exclude(session_ref__in=kept)
    codes.delete()
    ended = _revoke(families, by_session=bool(kept))
    access_tokens = get_access_token_model().objects.filter(user=user)
    if kept:
        kept_families = TokenFamily.objects.filter(user=user, session_ref__in=kept).values("family")
        access_tokens = access_tokens.exclude(refresh_token__token_family__in=kept_families)
    _revoke_untracked(access_tokens)
    return ended


def revoke_app(user, client) -> int:
    """The person withdrew an app's access: consent forgotten, tokens revoked, the app told."""
    Consent.objects.filter(user=user, client=client).delete()
    ended = _revoke(TokenFamily.objects.filter(user=user, client=client, revoked_at__isnull=True), by_session=False)
    _revoke_untracked(get_access_token_model().objects.filter(user=user, application=client))
    return ended


def revoke_reduced_access(user, client, *, assignment_lost: bool) -> int:
    """The directory took something from this person in this app (one of its roles, or the assignment
    it requires): the tokens and unused codes the app holds for them stop working, so whatever it gets
    next says what is true now. Consent stays. The app is told (by `sub`) only when the assignment is
    lost: a role fewer asks it to fetch new tokens, not to sign the person out. It is told even when
    no token of theirs is live any more (a role taken earlier revoked them silently, and the app kept
    its own session), as long as it ever got tokens for them."""
    get_grant_model().objects.filter(user=user, application=client).delete()
    families = TokenFamily.objects.filter(user=user, client=client)
    ended = _revoke(families.filter(revoked_at__isnull=True), notify=False)
    _revoke_untracked(get_access_token_model().objects.filter(user=user, application=client))
    if assignment_lost and client.backchannel_logout_uri and families.exists():
        notify_logout(client, user)  # by `sub`: every session of theirs at the app
    return ended


def withdraw_consent_by_admin(request, consent, *, actor) -> int:
    """An admin withdrew a person's consent to an app: what the person's own "remove this app" does
    (revoke_app: consent forgotten, the app's tokens revoked, the app told), audited with the admin.
    Deleting only the consent row would leave the tokens it led to working."""
    with transaction.atomic():
        ended = revoke_app(consent.user, consent.client)
        record_event(request, SecurityEvent.Kind.ADMIN_TOKENS_REVOKED, consent.user, actor=actor, reason="consent")
    return ended


def revoke_code(code: str) -> int:
    """An authorization code came back a second time: it leaked, so every token made from it goes."""
    ended = _revoke(TokenFamily.objects.filter(code_hash=code_hash(code), revoked_at__isnull=True), notify=False)
    if ended:
        log.warning("authorization code replayed; revoked %d token family(ies) issued from it", ended)
    return ended


def revoke_by_admin(request, user, *, access_tokens=(), refresh_tokens=(), codes=(), actor) -> int:
    """An admin revoked some of a person's app tokens (ids of rows): the whole family of each ends, as
    when the person withdraws an app, since a refresh token lives on through its rotations; the apps
    are told; unused codes are deleted; audited with the admin. Tokens outside any family go too.
    Who may revoke whose tokens is the admin's decision (accounts.flows.lifecycle.may_manage)."""
    access = get_access_token_model().objects.filter(pk__in=list(access_tokens))
    refresh = get_refresh_token_model().objects.filter(
        Q(pk__in=list(refresh_tokens)) | Q(access_token__in=access) | Q(refreshed_access_token__in=access)
    )
    uuids = [uuid for uuid in refresh.values_list("token_family", flat=True) if uuid]
    families = TokenFamily.objects.filter(Q(family__in=uuids) | Q(access_token__in=access), revoked_at__isnull=True)
    ended = _revoke(families)
    with transaction.atomic():
        for token in refresh.filter(revoked__isnull=True):
            token.revoke()
        _revoke_untracked(access)
        get_grant_model().objects.filter(pk__in=list(codes)).delete()
        record_event(request, SecurityEvent.Kind.ADMIN_TOKENS_REVOKED, user, actor=actor)
    return ended


def _revoke_untracked(access_tokens) -> None:
    """Tokens outside any family (a concurrent exchange that lost its race) go too."""
    RefreshToken = get_refresh_token_model()
    with transaction.atomic():
        RefreshToken.objects.filter(access_token__in=access_tokens, revoked__isnull=True).update(revoked=timezone.now())
        access_tokens.delete()
