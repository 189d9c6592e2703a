import pytest
from django.contrib.sessions.backends.base import UpdateError

from accounts.sessions import SESSION_PREFIX, SessionStore, session_id
from identity.redis import connection

pytestmark = pytest.mark.django_db


def test_a_request_that_changed_nothing_does_not_overwrite_another_requests_change():
    first = SessionStore()
    first["a"] = 1
    first.create()
    key = first.session_key

    slow = SessionStore(key)
    assert slow["a"] == 1  # loaded, not modified
    fast = SessionStore(key)
    fast["reauthenticated"] = 42
    fast.save()
    slow.save()  # as SessionMiddleware does on every request

    assert SessionStore(key)["reauthenticated"] == 42


def test_reading_a_session_renews_its_idle_deadline():
    store = SessionStore()
    store["a"] = 1
    store.create()
    connection().expire(SESSION_PREFIX + session_id(store.session_key), 5)

    assert SessionStore(store.session_key)["a"] == 1

    assert connection().ttl(SESSION_PREFIX + session_id(store.session_key)) > 5


def test_a_session_saved_without_being_read_is_still_renewed():
    store = SessionStore()
    store["a"] = 1
    store.create()
    connection().expire(SESSION_PREFIX + session_id(store.session_key), 5)

    SessionStore(store.session_key).save()  # SessionMiddleware saves every request's session

    assert connection().ttl(SESSION_PREFIX + session_id(store.session_key)) > 5


def test_a_session_deleted_meanwhile_is_not_brought_back():
    store = SessionStore()
    store["a"] = 1
    store.create()
    reader = SessionStore(store.session_key)
    reader.load()
    store.delete()
    reader.save()

    assert not SessionStore().exists(store.session_key)


def test_renewing_an_unread_session_deleted_meanwhile_is_an_update_error():
    store = SessionStore()
    store["a"] = 1
    store.create()
    key = store.session_key
    store.delete()
    with pytest.raises(UpdateError):
        SessionStore(key).save()


def test_a_cycled_key_is_written_once_at_save_and_the_old_one_is_gone(redis_writes):
    store = SessionStore()
    store["a"] = 1
    store.create()
    old_key = store.session_key

    redis_writes.clear()
    store.cycle_key()  # as login() does
    store["signed_in"] = True
    store.save()  # as SessionMiddleware does at the end of the request

    assert [command for write in redis_writes for command in write] == ["DEL", "SET"]
    assert store.session_key != old_key
    assert not SessionStore().exists(old_key)
    assert SessionStore(store.session_key)["signed_in"] is True
    assert SessionStore(store.session_key)["a"] == 1


def test_flushing_a_cycled_key_before_it_was_written_writes_nothing(redis_writes):
    store = SessionStore()
    store["a"] = 1
    store.create()
    store.cycle_key()
    redis_writes.clear()

    store.cycle_key()  # a second rotation in the same request: the unwritten key needs no DEL
    store.flush()  # as logout() does

    assert redis_writes == []
    assert store.session_key is None
