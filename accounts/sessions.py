"""Sessions in Redis, indexed by user so that every session of a person can be ended at once.

Why not Django's cache backend: it treats any cache error as "no session", which would silently sign
people out while Redis is down; here a Redis error propagates and the page answers 503. Redis keys
are a hash of the session key, so a dump of Redis holds no usable cookie values, and one save is one
round trip. Reading a session renews its idle deadline in the same round trip (GETEX), so a request
that changes nothing costs Redis one round trip in all.

A person's sessions and their index share one hash tag, the person's slot tag (`session:{tag}<sid>`,
`user-sessions:{tag}<user id>`), so on a Redis Cluster they live on one master: listing them is one
SMEMBERS and one MGET there, and a session and its index entry are written (and ended) in one MULTI, which
a replica receives whole. A failover can then lose a session written in its master's last moment together
with its index entry, never one without the other: a live session that "sign out everywhere" cannot find
does not happen. The tag must be known from the cookie alone, so a signed-in session's key starts with it:
three characters of a hash of the user id (one of 46,656 values, never the id itself), then 32 random ones
(165 bits, the secret). A key is chosen when first read after a sign-in rotated it, by which time the
session names its person; a signed-in session read under a key without its person's tag (one from before
this layout) is no session.
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
_RANDOM_LENGTH = 32
_TAG_LENGTH = 3


def session_id(session_key: str) -> str:
    """The stored, non-secret name of a session: safe to show in lists and to keep in an index."""
    return hashlib.sha256(session_key.encode()).hexdigest()


def slot_tag(user_id) -> str:
    """The hash tag of a person's sessions and their index. Not keyed with the site's secret: a rotated
    secret must not move the index away from the sessions it lists."""
    number = int.from_bytes(hashlib.sha256(f"session-slot:{user_id}".encode()).digest()[:8], "big")
    tag = ""
    for _ in range(_TAG_LENGTH):
        number, digit = divmod(number, len(VALID_KEY_CHARS))
        tag += VALID_KEY_CHARS[digit]
    return tag


def _tag_of(session_key: str) -> str:
    """The slot tag a session key starts with; "" for a key without one (no one signed in when it was made)."""
    return session_key[:_TAG_LENGTH] if len(session_key) == _TAG_LENGTH + _RANDOM_LENGTH else ""


def new_session_key(user_id=None) -> str:
    """A fresh random key; a signed-in person's starts with their slot tag."""
    tag = slot_tag(user_id) if user_id is not None else ""
    return tag + get_random_string(_RANDOM_LENGTH, VALID_KEY_CHARS)


def _stored_key(tag: str, sid: str) -> str:
    return f"{SESSION_PREFIX}{{{tag}}}{sid}" if tag else SESSION_PREFIX + sid


def data_key(session_key: str) -> str:
    """The Redis key of a session's data."""
    return _stored_key(_tag_of(session_key), session_id(session_key))


def _index_key(user_id) -> str:
    return f"{USER_INDEX_PREFIX}{{{slot_tag(user_id)}}}{user_id}"


class SessionStore(SessionBase):
    _renewed = False  # read with GETEX in this request, so its idle deadline is renewed already
    _unwritten = False  # a key cycle_key chose (or will choose), not in Redis yet
    _key_due = False  # cycle_key asked for a new key: it is chosen when first read (see _read_key)
    _key: str | None = None

    def _read_key(self) -> str | None:
        """The session key. After cycle_key, a new one is chosen at the first read, not at the rotation:
        login() rotates before it writes who signed in, and the key must carry that person's slot tag."""
        if self._key_due:
            self._key_due = False
            self._key = self._get_new_session_key()
        return self._key

    def _write_key(self, value: str | None) -> None:
        self._key_due = False
        self._key = value if self._validate_session_key(value) else None  # type: ignore[attr-defined]  # not in django-stubs

    session_key = property(_read_key)  # type: ignore[assignment]  # Django's, over our own attribute
    _session_key = property(_read_key, _write_key)

    def load(self) -> dict:
        key = self._get_or_create_session_key()  # type: ignore[attr-defined]  # not in django-stubs
        raw = connection().getex(data_key(key), ex=settings.SESSION_COOKIE_AGE)
        self._renewed = True
        if raw is None:
            self._session_key = None
            return {}
        data = self.decode(raw.decode())  # type: ignore[union-attr]  # bytes, not decoded
        user_id = data.get(USER_ID_KEY)
        if user_id is not None and _tag_of(key) != slot_tag(user_id):
            self._session_key = None  # outside its person's slot, so outside the reach of their index
            return {}
        return data

    def exists(self, session_key: str | None) -> bool:
        return bool(session_key and connection().exists(data_key(session_key)))

    def _get_new_session_key(self) -> str:
        """A fresh random key, without Django's EXISTS round trip: 32 characters of a 36-letter
        alphabet (165 bits) do not collide, and `create` writes with SET NX, which would catch it.
        It carries the slot tag of whoever the session names by now."""
        return new_session_key(getattr(self, "_session_cache", {}).get(USER_ID_KEY))

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
        """A new key for the same data (every sign-in). It is chosen when next read and written once, by
        the save at the end of the request and with SET NX like any new session, instead of once now
        and again then. The old key stops working now."""
        data = self._session  # type: ignore[attr-defined]  # not in django-stubs
        if self._key and not self._unwritten:
            self.delete(self._key)
        self._session_cache = data
        self._key_due = self._unwritten = self.modified = True

    def flush(self) -> None:
        if self._unwritten:  # a key that never reached Redis: nothing to delete there
            self._unwritten = False
            self.clear()
            self._session_key = None
            return
        super().flush()

    def _outside_its_slot(self) -> bool:
        """A session that names a person under a key without their slot tag (they signed in without a
        rotation, which login() never does): it moves to a key that has it before it is written."""
        user_id = getattr(self, "_session_cache", {}).get(USER_ID_KEY)
        key = self.session_key
        return user_id is not None and key is not None and _tag_of(key) != slot_tag(user_id)

    def save(self, must_create: bool = False) -> None:
        if self.modified and self._outside_its_slot():
            self.cycle_key()
        if self.session_key is None:
            return self.create()
        if self._unwritten:
            self._unwritten = False
            try:
                return self.save(must_create=True)
            except CreateError:  # the key was taken meanwhile (at 165 bits it is not): never overwrite
                return self.create()
        key = data_key(self.session_key)
        if not must_create and not self.modified:
            # Nothing to write (never the data another request may have changed meanwhile); the idle
            # deadline was renewed when the session was read, unless it was not read or has its own expiry.
            if self._renewed and self.get_expiry_age() == settings.SESSION_COOKIE_AGE:
                return
            if not connection().expire(key, max(self.get_expiry_age(), 1)):
                raise UpdateError
            return
        data = self._get_session(no_load=must_create)  # type: ignore[attr-defined]  # not in django-stubs
        user_id = data.get(USER_ID_KEY)
        # A signed-in session and its index entry in one MULTI (one slot: the person's), replicated whole.
        pipe = connection().pipeline(transaction=user_id is not None)
        pipe.set(key, self.encode(data), ex=max(self.get_expiry_age(), 1), nx=must_create, xx=not must_create)
        if user_id is not None:
            pipe.sadd(_index_key(user_id), session_id(self.session_key))
            pipe.expire(_index_key(user_id), settings.SESSION_ABSOLUTE_LIFETIME)
        stored = pipe.execute()[0]
        if not stored:
            raise CreateError if must_create else UpdateError

    def delete(self, session_key: str | None = None) -> None:
        session_key = session_key or self.session_key
        if session_key:
            connection().delete(data_key(session_key))

    @classmethod
    def clear_expired(cls) -> None:
        """Redis expires sessions by itself."""


def user_sessions(user_id) -> dict[str, dict]:
    """The live sessions of a user, by session id, with their data; expired index entries are pruned."""
    redis = connection()
    sids = [sid.decode() for sid in redis.smembers(_index_key(user_id))]  # type: ignore[union-attr]  # bytes, not decoded
    if not sids:
        return {}
    tag = slot_tag(user_id)
    raw = redis.mget([_stored_key(tag, sid) for sid in sids])  # one slot: the person's
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
    signed in through them hear of it. One MULTI in the person's slot: the deletions and the index
    entries go together."""
    if not sids:
        return 0
    redis = connection()
    decode = SessionStore().decode
    tag = slot_tag(user_id)
    keys = [_stored_key(tag, sid) for sid in sids]
    refs = [SigninState(decode(raw.decode())).ref for raw in redis.mget(keys) if raw]  # type: ignore[union-attr]  # bytes, not decoded
    pipe = redis.pipeline(transaction=True)
    for key in keys:
        pipe.delete(key)
    pipe.srem(_index_key(user_id), *sids)
    ended = sum(pipe.execute()[:-1])
    if any(refs):
        sessions_ended.send(sender=__name__, user_id=user_id, refs=[ref for ref in refs if ref])
    return ended
