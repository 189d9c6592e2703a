import pytest
from django.contrib.auth import SESSION_KEY as USER_ID_KEY
from django.contrib.sessions.backends.base import UpdateError
from django.test import Client

from accounts.sessions import (
    SESSION_PREFIX,
    SessionStore,
    _index_key,
    data_key,
    end_user_sessions,
    new_session_key,
    session_id,
    slot_tag,
    user_sessions,
)
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
    connection().expire(data_key(store.session_key), 5)

    assert SessionStore(store.session_key)["a"] == 1

    assert connection().ttl(data_key(store.session_key)) > 5


def test_a_session_saved_without_being_read_is_still_renewed():
    store = SessionStore()
    store["a"] = 1
    store.create()
    connection().expire(data_key(store.session_key), 5)

    SessionStore(store.session_key).save()  # SessionMiddleware saves every request's session

    assert connection().ttl(data_key(store.session_key)) > 5


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


# --- Redis Cluster: a person's sessions and their index in one slot ------------------------------------


def test_a_persons_sessions_and_their_index_share_one_slot_and_people_spread_over_slots():
    from redis.crc import key_slot

    slots = set()
    for user_id in range(1, 201):
        index = key_slot(_index_key(user_id).encode())
        keys = [new_session_key(user_id) for _ in range(3)]
        assert {key_slot(data_key(key).encode()) for key in keys} == {index}
        assert all(key.startswith(slot_tag(user_id)) and len(key) == 35 for key in keys)
        slots.add(index)
    assert len(slots) > 190  # spread over the cluster's masters, not one hot slot


def test_a_signed_in_sessions_key_carries_its_persons_tag_though_login_rotates_before_naming_them(
    signed_in_client, user
):
    key = signed_in_client.cookies["__Host-session"].value
    assert key.startswith(slot_tag(user.pk)) and len(key) == 35
    assert list(user_sessions(user.pk)) == [session_id(key)]


def test_a_signed_in_session_and_its_index_entry_are_written_in_one_transaction(user, redis_writes):
    store = SessionStore()
    store[USER_ID_KEY] = str(user.pk)
    redis_writes.clear()
    store.save()
    assert redis_writes == [["MULTI", "SET", "SADD", "EXPIRE", "EXEC"]]


def test_a_signed_in_session_outside_its_persons_slot_is_no_session(signed_in_client, user):
    """A session the index cannot reach must not sign anyone in: "sign out everywhere" would miss it.
    Such is a session stored before the hash tags (under a key without the person's tag)."""
    key = signed_in_client.cookies["__Host-session"].value
    data = connection().get(data_key(key))
    untagged = key[3:]  # the old layout: 32 random characters, stored as session:<sid>
    connection().set(data_key(untagged), data)
    assert data_key(untagged) == SESSION_PREFIX + session_id(untagged)

    assert SessionStore(untagged).load() == {}
    planted = Client(raise_request_exception=False)
    planted.cookies["__Host-session"] = untagged
    assert planted.get("/accounts/").status_code == 302
    assert end_user_sessions(user.pk) == 1 and signed_in_client.get("/accounts/").status_code == 302


def test_a_person_signed_in_without_a_rotation_moves_to_a_key_in_their_slot(user):
    store = SessionStore()
    store["a"] = 1
    store.create()
    anonymous = store.session_key
    store[USER_ID_KEY] = str(user.pk)  # never done by login(), which rotates the key first
    store.save()
    assert store.session_key != anonymous and store.session_key.startswith(slot_tag(user.pk))
    assert not SessionStore().exists(anonymous)
    assert SessionStore(store.session_key)["a"] == 1
    assert list(user_sessions(user.pk)) == [session_id(store.session_key)]
