"""Django's cache on identity.redis.connection(): everything the cache API offers, keys of one call spread
over many hash slots. tests/scaleout/test_redis_cluster.py runs these again on a Redis Cluster, where
Django's own client would send one MGET (or an MSET in a transaction) that a cluster refuses."""

from __future__ import annotations

from django.core.cache import cache

KEYS = [f"key-{i}" for i in range(20)]


def test_the_cache_keeps_and_forgets_keys_one_by_one():
    cache.set("a", {"n": 1}, 60)
    assert cache.get("a") == {"n": 1} and cache.has_key("a")
    assert cache.add("a", 2, 60) is False and cache.add("b", 2, 60) is True
    assert cache.incr("b", 3) == 5
    assert cache.touch("b", 120)
    cache.delete("a")
    assert cache.get("a", "gone") == "gone"
    cache.set("zero", 1, 0)  # a timeout of 0 stores nothing
    assert cache.get("zero") is None


def test_the_cache_keeps_and_forgets_many_keys_at_once():
    cache.set_many({key: i for i, key in enumerate(KEYS)}, 60)
    assert cache.get_many([*KEYS, "missing"]) == {key: i for i, key in enumerate(KEYS)}
    cache.delete_many(KEYS[:10])
    assert cache.get_many(KEYS) == {key: i for i, key in enumerate(KEYS) if i >= 10}
    cache.set_many({"never": 1}, 0)
    assert cache.get("never") is None
    cache.clear()
    assert cache.get_many(KEYS) == {}
