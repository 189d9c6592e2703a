"""The bench's work inside the site's own Django process: seeding, and the measurements that need the
site's code rather than HTTP (one argon2id verify; Redis memory per session; round trips per rate-limit
check). Run by bench/run.py as `python -m bench.site_tasks <task> ...` with the site's environment."""

from __future__ import annotations

import json
import sys
import time
from io import StringIO

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.hashers import check_password, make_password  # noqa: E402
from django.core.management import call_command  # noqa: E402

from accounts.app_settings import app_settings  # noqa: E402
from bench import accounts  # noqa: E402

REDIRECT_URI = "http://127.0.0.1:9/callback"


def seed(people: int) -> dict:
    """`people` with a password only and as many more with a passkey too (one hash for all: verifying
    costs the same; a passkey holder signing in with a password is asked for a second factor), a
    first-party web app and a machine client, registered the way an admin would."""
    from accounts.models import User
    from mfa.models import Passkey, PasskeyOwner

    encoded = make_password(accounts.PASSWORD)
    users = User.objects.bulk_create(
        User(email=accounts.email(n), password=encoded, email_verified=True) for n in range(2 * people)
    )
    holders = list(enumerate(users))[people:]
    PasskeyOwner.objects.bulk_create(PasskeyOwner(user=user, handle=accounts.user_handle(n)) for n, user in holders)
    Passkey.objects.bulk_create(
        Passkey(
            user=user,
            user_handle=accounts.user_handle(n),
            credential_id=accounts.passkey(n).id,
            public_key=accounts.passkey(n).public_key,
            transports=["internal"],
            name="Bench",
        )
        for n, user in holders
    )

    def register(*args) -> dict:
        out = StringIO()
        call_command("register_client", *args, "--json", stdout=out)
        return json.loads(out.getvalue())

    web = register("--name", "Bench web app", "--redirect-uri", REDIRECT_URI, "--skip-consent")
    machine = register("--name", "Bench service", "--machine")
    return {"people": people, "redirect_uri": REDIRECT_URI, "web": web, "machine": machine}


def argon2_verify_seconds(rounds: int) -> dict:
    """CPU seconds of one password check at the configured parameters (the cost a sign-in cannot avoid)."""
    encoded = make_password(accounts.PASSWORD)
    check_password(accounts.PASSWORD, encoded)
    started = time.process_time()
    for _ in range(rounds):
        assert check_password(accounts.PASSWORD, encoded)
    return {
        "seconds": (time.process_time() - started) / rounds,
        "memory_kib": app_settings.ARGON2_MEMORY_COST_KIB,
        "time_cost": app_settings.ARGON2_TIME_COST,
    }


def session_memory(count: int) -> dict:
    """Redis memory per session: copies of a real signed-in session (one a bench user made, read back
    from Redis) stored through the session store, `INFO memory` before and after."""
    from accounts.models import User
    from accounts.sessions import SESSION_PREFIX, SessionStore
    from accounts.signin_state import PREVIOUS_SIGNIN
    from identity.redis import connection

    redis = connection()
    # The same template every run: the first (by key) session of a returning person, signed in.
    decode = SessionStore().decode
    keys = sorted(redis.scan_iter(SESSION_PREFIX + "*", count=1000))
    stored = (decode(raw.decode()) for raw in redis.mget(keys) if raw)  # type: ignore[union-attr]  # bytes, not decoded
    template = next(data for data in stored if "_auth_user_id" in data and PREVIOUS_SIGNIN in data)
    user_ids = [str(pk) for pk in User.objects.order_by("pk").values_list("pk", flat=True)[:count]]
    before = redis.info("memory")["used_memory"]
    for n in range(count):
        store = SessionStore()
        store.update({**template, "_auth_user_id": user_ids[n % len(user_ids)]})
        store.create()
    after = redis.info("memory")["used_memory"]
    return {"sessions": count, "bytes_per_session": (after - before) / count, "used_memory": after}


def ratelimit_round_trips(checks: int) -> dict:
    """Redis round trips of one rate-limit check, counted by Redis itself (reads it processed)."""
    from identity import ratelimit
    from identity.redis import connection

    redis = connection()
    name = next(iter(settings.RATE_LIMITS))
    ratelimit.hit((name, "bench-warm"))  # loads the script
    before = redis.info("stats")["total_reads_processed"]
    for n in range(checks):
        ratelimit.hit((name, f"bench-{n % 50}"))
    after = redis.info("stats")["total_reads_processed"]
    return {"checks": checks, "round_trips_per_check": (after - before - 1) / checks}


TASKS = {
    "seed": lambda people: seed(int(people)),
    "argon2": lambda rounds: argon2_verify_seconds(int(rounds)),
    "sessions": lambda count: session_memory(int(count)),
    "ratelimit": lambda checks: ratelimit_round_trips(int(checks)),
}

if __name__ == "__main__":
    print(json.dumps(TASKS[sys.argv[1]](*sys.argv[2:])))
