"""More fault tolerance against real processes (tests/stack.py is the harness).

1. A private PostgreSQL cluster stopped and started again under a running gunicorn.
2. A gunicorn worker SIGKILLed while sign-ups are coming in from several clients.
"""

from __future__ import annotations

import glob
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from django.db.models import Count

from accounts.models import OutboxMail, User
from tests.processes import free_port, unavailable
from tests.stack import CSRF, ROOT, sign_in, stack, wait_for
from tests.users import PASSWORD

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True)]


# --- A private PostgreSQL cluster ----------------------------------------------------------------


def _pg_bin() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(candidates[-1]).parent if candidates else None


class PrivateCluster:
    """initdb + pg_ctl on a free port, in a directory of its own; never the shared server on 5432.

    initdb refuses to run as root, so as root every command runs as the `postgres` system user
    (runuser) in a directory that user owns, outside pytest's root-only tmp_path.
    """

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="identity-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            os.chown(self.root, _pg_uid(), _pg_gid())
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def run(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
        result = subprocess.run([*self.as_user, *argv], cwd=self.root, capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, f"{argv}: {result.stdout}\n{result.stderr}\n{self.server_log()}"
        return result

    def server_log(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def initdb(self) -> None:
        self.run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )

    def start(self) -> None:
        self.run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            "30",
            "-o",
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        )

    def stop(self) -> None:
        self.run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def psql(self, sql: str) -> None:
        self.run(
            str(self.bindir / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        )

    def cleanup(self) -> None:
        try:
            if self.running():
                subprocess.run(
                    [*self.as_user, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"],
                    capture_output=True,
                    timeout=30,
                )
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def _pg_uid() -> int:
    import pwd

    return pwd.getpwnam("postgres").pw_uid


def _pg_gid() -> int:
    import pwd

    return pwd.getpwnam("postgres").pw_gid


@pytest.fixture
def private_cluster():
    bindir = _pg_bin()
    if bindir is None:
        unavailable("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin")
    if os.geteuid() == 0:
        try:
            _pg_uid()
        except KeyError:
            unavailable("running as root and there is no `postgres` user to run initdb as")
        if not shutil.which("runuser"):
            unavailable("running as root and runuser is not available to run initdb as `postgres`")
    cluster = PrivateCluster(bindir)
    try:
        cluster.initdb()
        cluster.start()
        yield cluster
    finally:
        cluster.cleanup()


def _manage(env: dict, *argv: str) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"manage.py {argv}: {result.stdout[-3000:]}\n{result.stderr[-3000:]}"


# --- 1. PostgreSQL stopped and started again under gunicorn -------------------------------------


def test_postgres_restarted_under_gunicorn_answers_503_then_recovers(redis_server_binary, private_cluster, tmp_path):
    pg = private_cluster
    pg.psql("CREATE DATABASE identity_private")
    with stack(tmp_path) as web:
        web.env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:{pg.port}/identity_private"
        _manage(web.env, "migrate", "--noinput")
        _manage(
            web.env,
            "shell",
            "-c",
            "from accounts.models import User; "
            f"User.objects.create_user('ada@example.com', {PASSWORD!r}, email_verified=True)",
        )
        web.start_gunicorn()
        assert web.request("GET", "/accounts/login/")[0] == 200
        assert web.request("GET", "/readyz")[0] == 200
        cookies = sign_in(web, "ada@example.com")
        assert web.request("GET", "/accounts/", cookies=dict(cookies))[0] == 200

        pg.stop()
        # Several rounds, so both gunicorn workers are hit. A reset connection raises here and fails.
        for _ in range(4):
            status, page, response = web.request("GET", "/accounts/", cookies=dict(cookies))
            assert status == 503, (status, page[:500])
            assert "Temporarily unavailable" in page
            assert response.headers["Retry-After"]
            fresh: dict[str, str] = {}
            status, page, _ = web.request("GET", "/accounts/login/", cookies=fresh)
            assert status in (200, 503), status  # the empty form may not need the database; never a 500
            if status == 200:
                token = CSRF.search(page).group(1)
                status, page, _ = web.request(
                    "POST",
                    "/accounts/login/",
                    {"csrfmiddlewaretoken": token, "email": "ada@example.com", "password": PASSWORD},
                    fresh,
                )
                assert status == 503, (status, page[:500])  # looking up the account needs the database
            status, body, _ = web.request("GET", "/readyz")
            assert status == 503, body
            checks = json.loads(body)["checks"]
            assert checks["database"].startswith("error"), checks
            assert checks["redis"] == "ok", checks

        pg.start()  # same port; gunicorn is not restarted

        def back():
            return (
                web.request("GET", "/readyz")[0] == 200
                and web.request("GET", "/accounts/", cookies=dict(cookies))[0] == 200
            )

        wait_for(back, 15, f"pages to answer 200 again\n{web.logs()}", interval=0.2)
        for _ in range(4):
            assert web.request("GET", "/readyz")[0] == 200
            assert web.request("GET", "/accounts/", cookies=dict(cookies))[0] == 200
            assert web.request("GET", "/accounts/login/")[0] == 200
        assert web.request("GET", "/accounts/", cookies=dict(sign_in(web, "ada@example.com")))[0] == 200


# --- 2. A gunicorn worker SIGKILLed during sign-ups ---------------------------------------------


def _children(pid: int) -> list[int]:
    pids: list[int] = []
    for path in glob.glob(f"/proc/{pid}/task/*/children"):
        try:
            pids += [int(p) for p in Path(path).read_text().split()]
        except OSError:
            pass
    return pids


def test_web_worker_killed_during_signups_leaves_no_partial_accounts(redis_server_binary, tmp_path):
    # Load until enough sign-ups finished on both sides of the kill, however fast this machine is:
    # the test counts outcomes, never time.
    threads_n, before_kill, after_kill_n = 6, 6, 10
    with stack(tmp_path) as web:
        web.env["WEB_CONCURRENCY"] = "3"
        web.env["RATE_LIMITS"] = "signup-ip=100000/h,signup-address=100/h"
        master = web.start_gunicorn()
        workers = wait_for(lambda: len(_children(master.pid)) == 3 and _children(master.pid), 20, "3 gunicorn workers")

        lock = threading.Lock()
        results: list[tuple[float, float, str, str]] = []  # (started, ended, email, outcome)
        killed_at: list[float] = []
        done = threading.Event()

        def client(n: int):
            i = 0
            while not done.is_set():
                i += 1
                email = f"load{n}-{i}@load.example"
                began = time.monotonic()
                cookies: dict[str, str] = {}
                try:
                    status, page, _ = web.request("GET", "/accounts/signup/", cookies=cookies)
                    if status != 200:
                        outcome = f"GET {status}"
                    else:
                        token = CSRF.search(page).group(1)
                        status, page, _ = web.request(
                            "POST",
                            "/accounts/signup/",
                            {"csrfmiddlewaretoken": token, "email": email, "password": PASSWORD},
                            cookies,
                        )
                        outcome = "302" if status == 302 else f"POST {status}"
                except (OSError, http.client.HTTPException) as error:  # reset, closed or cut short by the kill
                    outcome = f"error {type(error).__name__}"
                with lock:
                    results.append((began, time.monotonic(), email, outcome))

        threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(threads_n)]
        for thread in threads:
            thread.start()
        wait_for(lambda: len(results) >= before_kill, 60, f"{before_kill} sign-ups before the kill")
        victim = workers[0]
        os.kill(victim, signal.SIGKILL)
        killed_at.append(time.monotonic())
        wait_for(
            lambda: sum(r[0] > killed_at[0] for r in list(results)) >= after_kill_n,
            60,
            f"{after_kill_n} after the kill",
        )
        done.set()
        for thread in threads:
            thread.join(60)
        assert not any(thread.is_alive() for thread in threads)

        # The master replaced the worker.
        wait_for(
            lambda: len(_children(master.pid)) == 3 and victim not in _children(master.pid),
            20,
            "gunicorn to replace the killed worker",
        )
        assert master.poll() is None

    kill = killed_at[0]
    failures = [r for r in results if r[3] != "302"]
    successes = [r for r in results if r[3] == "302"]
    after_kill = [r for r in results if r[0] > kill]
    assert len(failures) <= threads_n, failures  # at most the requests in flight on the killed worker
    assert all(r[0] <= kill for r in failures), (kill, failures)  # anything started after the kill succeeded
    assert all(r[3] == "302" for r in after_kill)
    assert len(after_kill) >= after_kill_n, len(after_kill)
    assert len(successes) >= after_kill_n, len(successes)

    # The database: no partial accounts.
    users = User.objects.filter(email__endswith="@load.example")
    outbox = {
        row["user"]: row["n"]
        for row in OutboxMail.objects.filter(kind=OutboxMail.Kind.VERIFY_EMAIL).values("user").annotate(n=Count("id"))
    }
    user_ids = set(users.values_list("id", flat=True))
    assert all(outbox.get(uid) == 1 for uid in user_ids), outbox  # each account has exactly one verification mail
    assert set(outbox) == user_ids, set(outbox) - user_ids  # every verification mail has its account
    assert not OutboxMail.objects.filter(kind=OutboxMail.Kind.ACCOUNT_EXISTS).exists()

    emails = set(users.values_list("email", flat=True))
    succeeded = {r[2] for r in successes}
    failed = {r[2] for r in failures}
    assert succeeded <= emails  # every 302 created its account
    # A failed request created no account, unless the kill came after its transaction committed (the
    # account and its mail exist, the answer was lost): so the counts agree up to those.
    assert emails - succeeded <= failed
    assert len(succeeded) <= len(emails) <= len(succeeded) + len(failed)


# --- gunicorn loads the app once, in the master (preload_app) --------------------------------------


def test_the_preloading_master_holds_no_connection_its_workers_would_share(redis_server_binary, tmp_path, user):
    """A socket opened while the master loads the app would be inherited by every worker, each reading
    the others' replies. After real requests (sign-in: PostgreSQL, Redis), the master holds only its
    listening socket; a killed worker's replacement serves, forked from the loaded app."""
    import psutil

    with stack(tmp_path) as web:
        web.env["WEB_CONCURRENCY"] = "2"
        master = web.start_gunicorn()
        workers = wait_for(lambda: len(_children(master.pid)) == 2 and _children(master.pid), 20, "2 gunicorn workers")
        assert "_rust.abi3.so" in Path(f"/proc/{master.pid}/maps").read_text(), "the master loaded the app"
        for _ in range(4):
            sign_in(web, user.email)
        held = [conn for conn in psutil.Process(master.pid).net_connections() if conn.raddr]
        assert held == [], held
        assert all(psutil.Process(worker).net_connections() for worker in workers), "workers connect, not the master"

        os.kill(workers[0], signal.SIGKILL)
        wait_for(lambda: [pid for pid in _children(master.pid) if pid not in workers], 20, "a replacement worker")
        for _ in range(4):
            sign_in(web, user.email)
