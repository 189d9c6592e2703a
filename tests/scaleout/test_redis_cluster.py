"""Sessions, rate-limit counters and the cache on a Redis Cluster, against real processes.

Six redis-server processes on loopback make a cluster of three masters, each with a replica
(tests/scaleout/redis_cluster.py), started once for this module. Every test here runs with this process
pointed at it (REDIS_CLUSTER_NODES), including the behaviour tests of one server imported below, which
pytest collects again in this module. The last test SIGKILLs a master under load: once its replica has
taken over, the same process, never restarted, serves everyone again, and of what was written before,
only what that master had not yet passed to its replica could have been lost.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass

import pytest
from django.db import connections
from django.test import Client
from redis.crc import key_slot

from accounts.sessions import _index_key, data_key, session_id, user_sessions
from identity import ratelimit
from identity.redis import connection, is_cluster, parse_cluster_nodes

# The behaviour tests of one server, and the fixtures they need, collected again here: on the cluster.
from tests.accounts.test_password import test_ended_sessions_are_gone_from_redis  # noqa: F401
from tests.accounts.test_security import (  # noqa: F401
    device,
    test_another_users_session_cannot_be_ended,
    test_ending_one_session_signs_out_that_browser_only,
    test_ending_this_very_session_by_id_signs_out_gracefully,
    test_not_me_signs_out_everywhere_and_mails_a_reset_link,
    test_security_page_lists_every_session_of_the_user_and_marks_this_one,
    test_sign_out_all_others_right_after_sign_in_needs_no_reauthentication,
    test_sign_out_is_recorded_with_the_ended_session,
    test_signin_success_is_recorded_with_method_address_agent_and_session,
)
from tests.accounts.test_sessions import (  # noqa: F401
    test_a_cycled_key_is_written_once_at_save_and_the_old_one_is_gone,
    test_a_person_signed_in_without_a_rotation_moves_to_a_key_in_their_slot,
    test_a_request_that_changed_nothing_does_not_overwrite_another_requests_change,
    test_a_session_deleted_meanwhile_is_not_brought_back,
    test_a_session_saved_without_being_read_is_still_renewed,
    test_a_signed_in_session_and_its_index_entry_are_written_in_one_transaction,
    test_a_signed_in_session_outside_its_persons_slot_is_no_session,
    test_flushing_a_cycled_key_before_it_was_written_writes_nothing,
    test_reading_a_session_renews_its_idle_deadline,
    test_renewing_an_unread_session_deleted_meanwhile_is_an_update_error,
)
from tests.identity.test_cache import (  # noqa: F401
    test_the_cache_keeps_and_forgets_keys_one_by_one,
    test_the_cache_keeps_and_forgets_many_keys_at_once,
)
from tests.identity.test_ratelimit import (  # noqa: F401
    WRONG,
    admin_client,
    attempt,
    checked_passwords,
    test_a_refused_hit_consumes_none_of_its_counters,
    test_admin_sees_the_throttling_and_clears_it,
    test_check_never_consumes,
    test_clear_and_clear_all_forget,
    test_forgive_refunds_the_first_counter_and_clears_the_others,
    test_hit_passes_exactly_n_times_then_refuses_without_consuming,
    test_parallel_guesses_never_get_more_password_checks_than_the_limit,
    test_per_address_limit_holds_across_addresses_and_variants,
    test_refund_gives_one_back_and_never_banks_credit,
    test_success_forgets_the_account_failures_but_not_the_ip_failures,
)
from tests.processes import unavailable
from tests.scaleout.redis_cluster import LocalCluster
from tests.scaleout.test_sentinel import load_settings
from tests.stack import wait_for
from tests.users import PASSWORD

pytestmark = [pytest.mark.processes, pytest.mark.django_db]


@pytest.fixture(scope="module")
def redis_cluster(redis_server_binary, tmp_path_factory):
    if not shutil.which("redis-cli"):
        unavailable("redis-cli is not installed")
    with ExitStack() as exits:
        yield LocalCluster(tmp_path_factory.mktemp("redis-cluster"), exits)


@pytest.fixture(autouse=True)
def _on_cluster(redis_cluster, settings):
    """This process's sessions, counters and cache on the cluster, empty."""
    redis_cluster.wait_healthy()
    settings.REDIS_CLUSTER_NODES = [("127.0.0.1", port) for port in redis_cluster.ports[:2]]  # it finds the rest
    settings.REDIS_URL = f"redis://127.0.0.1:{redis_cluster.ports[0]}/0"
    connection.cache_clear()
    client = connection()
    assert is_cluster(client)
    client.flushdb()  # every master
    yield client
    client.close()
    connection.cache_clear()


def sign_in(email: str, browser: Client | None = None) -> Client:
    browser = browser or Client(raise_request_exception=False)
    response = browser.post("/accounts/login/", {"email": email, "password": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:500]
    return browser


def cookie(browser: Client) -> str:
    return browser.cookies["__Host-session"].value


def master_port(client, key: str) -> int:
    """The port of the master that serves a key's slot, as the client knows it."""
    return client.nodes_manager.get_node_from_slot(key_slot(key.encode())).port


# --- Where things live ---------------------------------------------------------------------------


def test_people_are_spread_over_the_masters_and_each_persons_sessions_sit_with_their_index(make_user, _on_cluster):
    users = [make_user(f"person{i}@example.com") for i in range(12)]
    masters = set()
    for user in users:
        browsers = [sign_in(user.email) for _ in range(2)]
        index_master = master_port(_on_cluster, _index_key(user.pk))
        assert {master_port(_on_cluster, data_key(cookie(browser))) for browser in browsers} == {index_master}
        assert sorted(user_sessions(user.pk)) == sorted(session_id(cookie(browser)) for browser in browsers)
        masters.add(index_master)
    assert len(masters) >= 2, "twelve people on one master: the slots are not spread"


def test_a_password_attempt_counts_on_the_address_and_the_account_in_their_own_slots(user, _on_cluster, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "signin-ip-account": "2/h"}
    statuses = [attempt(user.email, WRONG).status_code for _ in range(3)]
    assert statuses == [400, 400, 429]
    counters = [("signin-ip", "127.0.0.1"), ("signin-ip-account", ratelimit.account_subject(user.email, "127.0.0.1"))]
    assert [ratelimit.used(counter) for counter in counters] == [2, 2]
    slots = {key_slot(ratelimit._location(*counter)[0].encode()) for counter in counters}
    assert len(slots) == 2
    assert attempt(user.email, PASSWORD, remote="198.51.100.9").status_code == 302  # another address
    account = ("signin-account", user.email)
    assert [ratelimit.used(account), ratelimit.used(counters[0])] == [0, 2], "the account forgiven, not the address"


def test_a_password_attempt_is_one_script_run_in_each_of_its_two_slots(user, redis_writes):
    assert attempt(user.email, WRONG).status_code == 400  # the script is loaded on the masters
    redis_writes.clear()
    assert attempt(user.email, WRONG).status_code == 400
    commands = [command for write in redis_writes for command in write]
    assert commands.count("EVALSHA") == 2 and "COMMAND" not in commands, redis_writes


def test_ended_sessions_are_marked_for_the_token_endpoint_in_every_slot(user):
    from oidc.revocation import revoke_sessions, session_ended

    refs = [f"session-ref-{i}" for i in range(10)]
    revoke_sessions(user.pk, refs)  # one pipeline of SETs, spread over the masters
    assert all(session_ended(ref) for ref in refs)


def test_readiness_asks_the_cluster(client):
    response = client.get("/readyz")
    assert json.loads(response.content)["checks"]["redis"] == "ok", response.content


# --- The settings --------------------------------------------------------------------------------


def test_cluster_nodes_are_parsed():
    assert parse_cluster_nodes("10.0.0.1, 10.0.0.2:7000,[::1]:7001,") == [
        ("10.0.0.1", 6379),
        ("10.0.0.2", 7000),
        ("::1", 7001),
    ]
    with pytest.raises(ValueError, match="not a host:port address"):
        parse_cluster_nodes("10.0.0.1:70000")


def test_celery_keeps_a_broker_of_its_own_and_never_defaults_to_the_cluster():
    probe = {"REDIS_CLUSTER_NODES": "10.0.0.1:6379,10.0.0.2", "REDIS_URL": "redis://:pw@10.0.0.1:6379/0"}
    result = load_settings(**probe)
    assert result.returncode == 0, result.stderr
    sentinels, broker, _options = json.loads(result.stdout)
    assert (sentinels, broker) == ([], ""), "identity.E009 then refuses to start"
    separate = json.loads(load_settings(**probe, CELERY_BROKER_URL="redis://broker:6379/1").stdout)
    assert separate[1] == "redis://broker:6379/1"
    bad = load_settings(REDIS_CLUSTER_NODES="10.0.0.1:port")
    assert bad.returncode != 0 and "REDIS_CLUSTER_NODES: not a host:port address" in bad.stderr


# --- A master killed under load (last: the cluster is left with the killed node back as a replica) -------


@dataclass
class Outcome:
    started: float
    what: str
    status: int | None
    error: str = ""


LOAD_THREADS = 4


def replicated(cluster: LocalCluster, master: int) -> bool:
    """Has the master's replica received every write the master has taken so far?"""
    info = cluster.client(master).info("replication")
    return info["slave0"]["offset"] == info["master_repl_offset"]  # type: ignore[index]  # a dict


@pytest.mark.django_db(transaction=True)
def test_killing_a_master_under_load_loses_only_its_unreplicated_writes_and_needs_no_restart(
    redis_cluster, _on_cluster, make_user, settings
):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "signin-ip-account": "3/h"}
    # The victim is the master of a counted account's failures; people are made until two of them have their
    # sessions on it too (a person's slot follows from their id), so what it held before is known.
    counted = make_user("counted@example.com")
    victim = master_port(_on_cluster, ratelimit._location("signin-ip-account", counted.email)[0])
    on_victim: list = []
    elsewhere: list = []
    while len(on_victim) < 2 or len(elsewhere) < 2 or len(on_victim) + len(elsewhere) < 8:
        user = make_user(f"load{len(on_victim) + len(elsewhere)}@example.com")
        (on_victim if master_port(_on_cluster, _index_key(user.pk)) == victim else elsewhere).append(user)
        assert len(on_victim) + len(elsewhere) < 100
    users = on_victim[:2] + elsewhere[:2] + on_victim[2:] + elsewhere[2:]  # the load: two on it, two not
    before = [sign_in(user.email) for user in users]
    replica = redis_cluster.replica_of(victim)
    victims_slots = {slot for slot in range(16384) if _on_cluster.nodes_manager.get_node_from_slot(slot).port == victim}
    assert [attempt(counted.email, WRONG).status_code for _ in range(2)] == [400, 400]
    wait_for(lambda: all(replicated(redis_cluster, m) for m in redis_cluster.masters()), 10, "replication")

    outcomes: list[list[Outcome]] = [[] for _ in range(LOAD_THREADS)]
    signed_in_during: list[tuple[Client, str]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def work(i: int) -> None:
        browser = before[i]
        n = 0
        try:
            while not stop.is_set():
                n += 1
                started = time.monotonic()
                try:
                    if n % 4 == 0:  # a new sign-in of someone
                        fresh = Client(raise_request_exception=False)
                        email = users[(i + n) % len(users)].email
                        status = fresh.post("/accounts/login/", {"email": email, "password": PASSWORD}).status_code
                        outcomes[i].append(Outcome(started, "login", status))
                        if status == 302:
                            with lock:
                                signed_in_during.append((fresh, email))
                    else:
                        status = browser.get("/accounts/security/").status_code
                        outcomes[i].append(Outcome(started, "page", status))
                except Exception as error:  # noqa: BLE001 - a failed request is what is being counted
                    outcomes[i].append(Outcome(started, "page", None, f"{type(error).__name__}: {error}"))
                time.sleep(0.01)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(LOAD_THREADS)]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: all(len(o) >= 3 for o in outcomes), 30, "the load to get going")
        redis_cluster.kill(victim)
        wait_for(lambda: redis_cluster.roles().get(replica) == "master", 30, "the replica to take over")
        redis_cluster.wait_healthy(replicas=False)
        recovered = time.monotonic()

        def served_again() -> bool:
            return all(sum(o.started > recovered and o.status in (200, 302) for o in mine) >= 3 for mine in outcomes)

        wait_for(served_again, 30, "every thread to be served again")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)

    # While the replica took over, a page or sign-in answered or said "temporarily unavailable"; nothing worse.
    assert {(o.what, o.status) for mine in outcomes for o in mine} <= {
        ("page", 200),
        ("login", 302),
        ("page", 503),
        ("login", 503),
    }, [o for mine in outcomes for o in mine if o.status not in (200, 302)]
    assert any(o.status == 503 for o in outcomes[0]), "the kill was felt by the sessions on the victim"
    assert all(o.status == 200 for i in (2, 3) for o in outcomes[i] if o.what == "page"), "the others saw nothing"
    assert connection() is _on_cluster, "the same client throughout: nothing was restarted"
    # What the victim had passed to its replica is all there: every earlier session (two of them were on
    # it), the two failures.
    assert [browser.get("/accounts/").status_code for browser in before] == [200] * len(before)
    assert [attempt(counted.email, WRONG).status_code for _ in range(2)] == [400, 429]
    # Sessions made during the load on the other masters are all there (on the victim's, the last ones may not be).
    others = [
        browser
        for browser, _email in signed_in_during
        if key_slot(data_key(cookie(browser)).encode()) not in victims_slots
    ]
    assert [browser.get("/accounts/").status_code for browser in others] == [200] * len(others)
    assert sign_in(users[1].email).get("/accounts/").status_code == 200

    redis_cluster.start(victim)  # back, as a replica of the node that took over
    redis_cluster.wait_healthy()
    assert redis_cluster.roles()[victim] == "slave"
