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
    connection().expire(SESSION_PREFIX + session_id(key), 5)
    slow.save()  # as SessionMiddleware does on every request

    assert SessionStore(key)["reauthenticated"] == 42
    assert connection().ttl(SESSION_PREFIX + session_id(key)) > 5, "the idle deadline was still renewed"


def test_renewing_a_session_deleted_meanwhile_is_an_update_error():
    store = SessionStore()
    store["a"] = 1
    store.create()
    reader = SessionStore(store.session_key)
    reader.load()
    store.delete()
    with pytest.raises(UpdateError):
        reader.save()
