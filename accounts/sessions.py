"""Sessions in Redis, indexed by user so that every session of a person can be ended at once.

Why not Django's cache backend: it treats any cache error as "no session", which would silently sign
people out while Redis is down; here a Redis error propagates and the page answers 503. Redis keys
are a hash of the session key, so a dump of Redis holds no usable cookie values, and one save is one
round trip. Reading a session renews its idle deadline in the same round trip (GETEX), so a request
that changes nothing costs Redis one round trip in all.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.auth import SESSION_KEY as USER_ID_KEY
from django.contrib.sessions.backends.base import VALID_KEY_CHARS, CreateError, SessionBase, UpdateError
from django.utils.crypto import get_random_string

from identity.redis import connection

from .signals import sessions_ended
from .signin_state import SigninState

SESSION_PREFIX = "session:"
USER_INDEX_PREFIX = "user-sessions:"


def session_id(session_key: str) -> str:
    """The stored, non-secret name of a session: safe to show in lists and to keep in an index."""
    return hashlib.sha256(session_key.encode()).hexdigest()


def _data_key(sid: str) -> str:
    return SESSION_PREFIX + sid


def _index_key(user_id) -> str:
    return f"{USER_INDEX_PREFIX}{user_id}"


class SessionStore(SessionBase):
    _renewed = False  # read with GETEX in this request, so its idle deadline is renewed already
    _unwritten = False  # a key cycle_key chose, not in Redis yet

    def load(self) -> dict:
        key = _data_key(session_id(self._get_or_create_session_key()))  # type: ignore[attr-defined]  # not in django-stubs
        raw = connection().getex(key, ex=settings.SESSION_COOKIE_AGE)
        self._renewed = True
        if raw is None:
            self._session_key = None
            return {}
        return self.decode(raw.decode())  # type: ignore[union-attr]  # bytes, not decoded

    def exists(self, session_key: str | None) -> bool:
        return bool(session_key and connection().exists(_data_key(session_id(session_key))))

    def _get_new_session_key(self) -> str:
        """A fresh random key, without Django's EXISTS round trip: 32 characters of a 36-letter
        alphabet (165 bits) do not collide, and `create` writes with SET NX, which would catch it."""
        return get_random_string(32, VALID_KEY_CHARS)

    def create(self) -> None:
        for _attempt in range(100):
            self._session_key = self._get_new_session_key()
            try:
                self.save(must_create=True)
            except CreateError:
                continue
            self.modified = True
            return
        raise RuntimeError("Could not create a unique session key.")

    def cycle_key(self) -> None:
        """A new key for the same data (every sign-in). It is written once, by the save at the end of
        the request and with SET NX like any new session, instead of once now and again then."""
        data = self._session  # type: ignore[attr-defined]  # not in django-stubs
        old_key, old_written = self.session_key, not self._unwritten
        self._session_key = self._get_new_session_key()
        self._session_cache = data
        self._unwritten = self.modified = True
        if old_key and old_written:
            self.delete(old_key)

    def flush(self) -> None:
        if self._unwritten:  # a key that never reached Redis: nothing to delete there
            self._unwritten = False
            self.clear()
            self._session_key = None
            return
        super().flush()

    def save(self, must_create: bool = False) -> None:
        if self.session_key is None:
            return self.create()
        if self._unwritten:
            self._unwritten = False
            try:
                return self.save(must_create=True)
            except CreateError:  # the key was taken meanwhile (at 165 bits it is not): never overwrite
                return self.create()
        sid = session_id(self.session_key)
        if not must_create and not self.modified:
            # Nothing to write (never the data another request may have changed meanwhile); the idle
            # deadline was renewed when the session was read, unless it was not read or has its own expiry.
            if self._renewed and self.get_expiry_age() == settings.SESSION_COOKIE_AGE:
                return
            if not connection().expire(_data_key(sid), max(self.get_expiry_age(), 1)):
                raise UpdateError
            return
        data = self._get_session(no_load=must_create)  # type: ignore[attr-defined]  # not in django-stubs
        pipe = connection().pipeline(transaction=False)
        pipe.set(
            _data_key(sid),
            self.encode(data),
            ex=max(self.get_expiry_age(), 1),
            nx=must_create,
            xx=not must_create,
        )
        user_id = data.get(USER_ID_KEY)
        if user_id is not None:
            pipe.sadd(_index_key(user_id), sid)
            pipe.expire(_index_key(user_id), settings.SESSION_ABSOLUTE_LIFETIME)
        stored = pipe.execute()[0]
        if not stored:
            raise CreateError if must_create else UpdateError

    def delete(self, session_key: str | None = None) -> None:
        session_key = session_key or self.session_key
        if session_key:
            connection().delete(_data_key(session_id(session_key)))

    @classmethod
    def clear_expired(cls) -> None:
        """Redis expires sessions by itself."""


def user_sessions(user_id) -> dict[str, dict]:
    """The live sessions of a user, by session id, with their data; expired index entries are pruned."""
    redis = connection()
    sids = [sid.decode() for sid in redis.smembers(_index_key(user_id))]  # type: ignore[union-attr]  # bytes, not decoded
    if not sids:
        return {}
    raw = redis.mget([_data_key(sid) for sid in sids])
    dead = [sid for sid, data in zip(sids, raw, strict=True) if data is None]
    if dead:
        redis.srem(_index_key(user_id), *dead)
    decode = SessionStore().decode
    return {sid: decode(data.decode()) for sid, data in zip(sids, raw, strict=True) if data is not None}  # type: ignore[union-attr]  # bytes, not decoded


def end_session(user_id, sid: str) -> bool:
    """End one session of a user, named by its id; False if the user has no such session."""
    redis = connection()
    if not redis.sismember(_index_key(user_id), sid):
        return False
    _end(user_id, [sid])
    return True


def end_user_sessions(user_id, keep_session_key: str | None = None) -> int:
    """Delete every session of a user, except the one named (the caller's own). Returns how many ended."""
    keep = session_id(keep_session_key) if keep_session_key else None
    sids = [sid.decode() for sid in connection().smembers(_index_key(user_id))]  # type: ignore[union-attr]  # bytes, not decoded
    return _end(user_id, [sid for sid in sids if sid != keep])


def _end(user_id, sids: list[str]) -> int:
    """Delete these sessions and announce which ended (by their stable references), so that apps
    signed in through them hear of it."""
    if not sids:
        return 0
    redis = connection()
    decode = SessionStore().decode
    refs = [SigninState(decode(raw.decode())).ref for raw in redis.mget([_data_key(sid) for sid in sids]) if raw]  # type: ignore[union-attr]  # bytes, not decoded
    pipe = redis.pipeline(transaction=False)
    for sid in sids:
        pipe.delete(_data_key(sid))
    pipe.srem(_index_key(user_id), *sids)
    ended = sum(pipe.execute()[:-1])
    if any(refs):
        sessions_ended.send(sender=__name__, user_id=user_id, refs=[ref for ref in refs if ref])
    return ended
