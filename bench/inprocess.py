"""One scenario of `make bench`, in one process, under a CPU profiler: where a request's time goes.

The load driver's own scenario code (bench.driver) runs against the site's WSGI application called
directly (no gunicorn, no sockets), one virtual user, against the database and signing key a `make
bench` run left behind. It prints the CPU per operation, the SQL statements and Redis commands per
operation, and cProfile's top functions by cumulative CPU time.

    make bench                                   # once: prepares identity_bench and var/bench/
    .venv/bin/python -m bench.inprocess refresh --ops 300
    .venv/bin/python -m bench.inprocess signed_in_page --ops 1000 --top 40 --sql

REDIS_URL (default db 3 of 127.0.0.1:6379) holds the run's sessions and counters.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import secrets
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
VAR = ROOT / "var" / "bench"
OURS = tuple(
    f"{ROOT}/{app}/" for app in ("accounts", "directory", "federation", "identity", "mfa", "oidc", "saml", "scim")
)


class DirectWSGI(httpx.AsyncBaseTransport):
    """httpx's WSGI transport behind the async interface the driver speaks: each request runs to the
    end in this thread, so the profiler sees all of it."""

    def __init__(self, app):
        self.inner = httpx.WSGITransport(app=app, remote_addr="127.0.0.1")

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        response = self.inner.handle_request(request)
        return httpx.Response(response.status_code, headers=response.headers, content=response.read())


def configure(database_url: str) -> None:
    from bench.run import site_env

    os.environ.update(
        site_env(
            database_url=database_url,
            redis_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/3"),
            site_url="http://localhost",
        )
    )
    os.environ["DJANGO_SECRET_KEY"] = os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50)
    # The driver's coroutines call the WSGI app synchronously, in one thread: nothing runs concurrently.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


def take_over(seed: dict) -> None:
    """Make the seeded site this process's: client secrets are stored as a hash keyed with the SECRET_KEY
    of the run that seeded them (store them again under this process's key), and the driver's
    authenticators count signatures from 0 again (a passkey whose count went back is refused)."""
    from mfa.models import Passkey
    from oidc.models import Client

    Passkey.objects.update(sign_count=0)
    for app in (seed["web"], seed["machine"]):
        client = Client.objects.get(client_id=app["client_id"])
        client.client_secret = app["client_secret"]
        client.save(update_fields=["client_secret"])


async def run(args) -> None:
    import django

    django.setup()
    from django.db import connection

    from bench.driver import SCENARIOS, User
    from identity.redis import connection as redis_connection
    from identity.wsgi import application

    seed = json.loads((VAR / "seed.json").read_text())
    seed["run"] = secrets.token_hex(4)
    take_over(seed)
    setup, once = SCENARIOS[args.scenario]
    client = httpx.AsyncClient(transport=DirectWSGI(application), base_url="http://127.0.0.1")
    app = httpx.AsyncClient(transport=DirectWSGI(application), base_url="http://127.0.0.1")
    number = seed["people"] if args.scenario == "passkey" else 0
    user = User(client, app, number, seed, "http://localhost")
    if setup:
        await setup(user)
    for _ in range(args.warmup):  # imports, caches, the first connection
        await once(user)

    statements: Counter[str] = Counter()

    callers: Counter[str] = Counter()

    def count(execute, sql, params, many, context):
        if "SAVEPOINT" not in sql:  # transaction.atomic's, left out as in tests/oidc/test_rotation.py
            statements[sql.split(" WHERE ")[0][:110]] += 1
        if args.trace and args.trace in sql:
            ours = [f for f in traceback.extract_stack() if f.filename.startswith(OURS) and "/bench/" not in f.filename]
            callers[" < ".join(f"{Path(f.filename).relative_to(ROOT)}:{f.lineno}" for f in reversed(ours[-3:]))] += 1
        return execute(sql, params, many, context)

    redis = redis_connection()
    # Round trips as the server counts them (reads), as in bench.run; the INFO itself is one of them.
    reads_before = int(redis.info("stats")["total_reads_processed"])
    plain = time.process_time()
    for _ in range(args.ops):  # without the profiler, which slows Python code down more than C code
        await once(user)
    plain = time.process_time() - plain

    profiler = cProfile.Profile(time.process_time)
    requests = 0
    with connection.execute_wrapper(count):
        profiler.enable()
        for _ in range(args.ops):
            requests += await once(user)
        profiler.disable()
    round_trips = int(redis.info("stats")["total_reads_processed"]) - reads_before - 1

    print(f"{args.scenario}: {args.ops} operations ({requests} requests) in one process")
    print(f"  CPU per operation   {1000 * plain / args.ops:.2f} ms (the driver's part included)")
    print(f"  SQL per operation   {sum(statements.values()) / args.ops:.1f} (savepoints left out)")
    print(f"  Redis round trips   {round_trips / (2 * args.ops):.1f} per operation (the server's count: others' too)")
    stats = pstats.Stats(profiler)
    calls: int = stats.total_calls  # type: ignore[attr-defined]  # set by pstats, not in typeshed
    print(f"  Python calls        {calls / args.ops:,.0f} per operation (the driver's included; repeatable)")
    if args.sql:
        for sql, times in statements.most_common():
            print(f"  {times / args.ops:5.1f}  {sql}")
    for where, times in callers.most_common():
        print(f"  {times / args.ops:5.1f}  {args.trace!r} from {where}")
    if args.top:
        pstats.Stats(profiler, stream=sys.stdout).sort_stats(args.sort).print_stats(args.top)
    if args.out:
        profiler.dump_stats(args.out)
    if args.json:
        counts = {
            "cpu_ms_per_op": 1000 * plain / args.ops,
            "sql_per_op": sum(statements.values()) / args.ops,
            "python_calls_per_op": calls / args.ops,
            "statements_per_op": {sql: times / args.ops for sql, times in statements.most_common()},
        }
        Path(args.json).write_text(json.dumps(counts, indent=1))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "scenario", choices=["signin", "codeflow", "refresh", "client_credentials", "signed_in_page", "passkey"]
    )
    parser.add_argument("--ops", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sql", action="store_true", help="list the statements")
    parser.add_argument("--sort", default="cumulative", help="cProfile's order: cumulative, tottime...")
    parser.add_argument("--out", help="write the cProfile data here (for snakeviz, gprof2dot...)")
    parser.add_argument("--json", help="write the counts here (tests/bench_suite pins them)")
    parser.add_argument("--trace", help="where the statements containing this text come from (our frames)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/identity_bench"),
    )
    args = parser.parse_args(argv)
    if not (VAR / "seed.json").exists():
        raise SystemExit("No var/bench/seed.json: run `make bench` once first.")
    configure(args.database_url)
    sys.path.insert(0, str(ROOT))
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
