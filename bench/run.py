"""The benchmark: starts Identity the production way on this machine, drives each scenario from a
separate process (bench/driver.py), and prints a table; the same results go to var/bench/results.json.

    make bench                       # every scenario, 15 s each
    make bench ARGS="--seconds 5 --only signin refresh"
    make bench ARGS="--tls"          # every site behind gunicorn's own TLS, as a black-box harness sees it

What it starts, all on loopback and private to the run: gunicorn with the repository's gunicorn.conf.py
(DJANGO_DEBUG off), a stock Django project under the same configuration (the baseline) and a stock
django-allauth site (bench/allauth_site/, on a database of its own) under it too, a Celery
worker, two redis-servers (one for sessions, cache and rate limits, whose counters are read; one as the
broker), a fresh PostgreSQL database and an SMTP sink. The server's cost per operation is measured, not
guessed: CPU seconds of every server process (gunicorn, Celery, PostgreSQL, Redis) across the load window
and the round trips Redis itself counted (`total_reads_processed`).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import psutil
import psycopg
import redis

from bench import tls
from bench.driver import SCENARIOS
from tests.processes import free_port, wait_until_broker_idle

ROOT = Path(__file__).resolve().parents[1]
VAR = ROOT / "var" / "bench"
BIN = Path(sys.executable).parent
PEOPLE = 64
STALLED_WARMUPS = 5  # extra warm-up rounds that warm no web worker before the window starts anyway
# Limits that a load from one address would trip are raised; every check still runs.
RATE_LIMITS = ",".join(
    f"{name}=100000000/m"
    for name in ("passkey-ip", "token-client", "token-ip", "signup-ip", "signin-ip", "authorize-ip")
)
# The targets of issue 18 (issue 8's, raised: Keycloak's published sizing, doubled), judged on the
# server's CPU per operation (the driver shares these cores, so raw throughput understates what the
# server alone does): (ratio, label, target, at most?, format, the scenarios it is computed from).
TARGETS = [
    ("signin_vs_argon2_limit", "password sign-in vs the argon2id limit", 0.8, False, "{:.2f}", ("signin",)),
    ("codeflow_logins_per_core_s", "code-flow logins/s per core", 30, False, "{:.1f}", ("codeflow",)),
    ("refresh_requests_per_core_s", "refresh grants/s per core", 240, False, "{:.0f}", ("refresh",)),
    (
        "client_credentials_requests_per_core_s",
        "client-credentials grants/s per core",
        400,
        False,
        "{:.0f}",
        ("client_credentials",),
    ),
    ("passkey_signins_per_core_s", "passkey sign-ins/s per core", 150, False, "{:.0f}", ("passkey",)),
    (
        "signed_in_page_vs_bare",
        "signed-in page vs bare Django view",
        0.4,
        False,
        "{:.2f}",
        ("signed_in_page", "bare_django"),
    ),
    (
        "signed_in_page_vs_allauth",
        "signed-in page vs stock allauth signed-in page",
        1.0,
        False,
        "{:.2f}",
        ("signed_in_page", "allauth_signed_in_page"),
    ),
    ("ratelimit_round_trips", "Redis round trips per rate-limit check", 1, True, "{:.2f}", ()),
    ("session_bytes", "Redis memory per session (bytes)", 1024, True, "{:.0f}", ()),
]
# The scenarios served by another site than Identity (by its process name), and the shared servers
# each of those uses (its CPU is the site's and theirs; Identity's is everything else).
OTHER_SITES = {"bare_django": "baseline", "allauth_signed_in_page": "allauth"}
SHARED_SERVERS = {"baseline": (), "allauth": ("postgres",)}


def wait_for(url: str, what: str, proc: subprocess.Popen, context=None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited; see {VAR}/*.log")
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as response:  # noqa: S310 (our own 127.0.0.1 URLs)
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{what} did not answer {url} within {timeout}s")


def gunicorn_argv(
    module: str, certificate: tuple[Path, Path] | None = None, config: str = "gunicorn.conf.py"
) -> list[str]:
    """How every site is started: the repository's gunicorn command and configuration, serving https
    when given a certificate and its key (gunicorn's sync workers then make a new TLS handshake for
    every request: they close each connection after one response)."""
    argv = [str(BIN / "gunicorn"), module, "-c", config]
    if certificate:
        argv += ["--certfile", str(certificate[0]), "--keyfile", str(certificate[1])]
    return argv


def site_env(*, database_url: str, redis_url: str, site_url: str, secure: bool = False) -> dict[str, str]:
    """Identity as the bench runs it (this runner, and bench.inprocess): production settings, the
    bench's database, keys and raised rate limits."""
    return {
        "DJANGO_SETTINGS_MODULE": "identity.settings",
        "DJANGO_DEBUG": "0",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SITE_URL": site_url,
        "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1",
        # Plain http on loopback unless --tls (in production TLS ends at the load balancer, or here).
        "SECURE_SSL_REDIRECT": "1" if secure else "0",
        "SECURE_COOKIES": "1" if secure else "0",
        "OIDC_KEYS_FILE": str(VAR / "oidc-keys.json"),
        "RATE_LIMITS": RATE_LIMITS,
        "PASSWORD_BREACH_CHECK": "0",  # load this site, not Have I Been Pwned (one request per sign-up)
        "LOG_LEVEL": "WARNING",
    }


class Bench:
    def __init__(self, exits: ExitStack, args):
        self.exits = exits
        self.args = args
        VAR.mkdir(parents=True, exist_ok=True)
        self.ports = {name: free_port() for name in ("web", "baseline", "allauth", "redis", "broker", "smtp")}
        self.procs: dict[str, subprocess.Popen] = {}
        self.scheme = "https" if args.tls else "http"
        self.certificate = tls.self_signed(VAR) if args.tls else None
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            **site_env(
                database_url=args.database_url,
                redis_url=f"redis://127.0.0.1:{self.ports['redis']}/0",
                site_url=f"{self.scheme}://localhost:{self.ports['web']}",
                secure=args.tls,
            ),
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{self.ports['broker']}/0",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(self.ports["smtp"]),
            "PROMETHEUS_MULTIPROC_DIR": str(VAR / "prometheus"),
        }
        self.env.pop("REDIS_SENTINELS", None)

    # --- processes --------------------------------------------------------------------------------

    def spawn(self, name: str, argv: list[str], **env: str) -> subprocess.Popen:
        log = open(VAR / f"{name}.log", "wb")
        self.exits.callback(log.close)
        proc = subprocess.Popen(
            argv, cwd=ROOT, env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.procs[name] = proc
        self.exits.callback(self.stop, proc)
        return proc

    @staticmethod
    def stop(proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    def manage(self, *argv: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", *argv], cwd=ROOT, env=self.env, check=True, stdout=subprocess.DEVNULL
        )

    def site_task(self, *argv: str) -> dict:
        out = subprocess.run(
            [sys.executable, "-m", "bench.site_tasks", *argv],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])

    def port(self, site: str) -> int:
        return self.ports["web" if site == "gunicorn" else site]

    def base(self, site: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port(site)}"

    def gunicorn(self, site: str, module: str, **env: str) -> subprocess.Popen:
        argv = gunicorn_argv(module, self.certificate)
        return self.spawn(site, argv, BIND=f"127.0.0.1:{self.port(site)}", **env)

    def wait_for(self, site: str, path: str, proc: subprocess.Popen) -> None:
        context = tls.client_context(self.certificate[0]) if self.certificate else None
        wait_for(self.base(site) + path, site, proc, context)

    def allauth_env(self) -> dict[str, str]:
        url = self.args.database_url
        return {"DJANGO_SETTINGS_MODULE": "bench.allauth_site.settings", "DATABASE_URL": f"{url}_allauth"}

    def start(self) -> None:
        for name in ("redis", "broker"):
            self.spawn(
                f"redis-{name}",
                [
                    "redis-server",
                    "--port",
                    str(self.ports[name]),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
            )
        self.redis = redis.Redis(port=self.ports["redis"])
        self.broker = redis.Redis(port=self.ports["broker"])
        for _ in range(100):
            try:
                self.redis.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        self.fresh_database(self.args.database_url)
        self.smtp_sink()
        allauth = "allauth_signed_in_page" in self.args.only
        if allauth:  # its migrations and people, while Identity's are made
            self.fresh_database(self.allauth_env()["DATABASE_URL"])
            preparing = subprocess.Popen(
                [sys.executable, "-m", "bench.allauth_site.prepare", str(PEOPLE)],
                cwd=ROOT,
                env={**self.env, **self.allauth_env()},
            )
        print("Preparing the database, the signing key and static files…", flush=True)
        self.manage("migrate", "--noinput")
        Path(self.env["OIDC_KEYS_FILE"]).unlink(missing_ok=True)  # a fresh keyset: one key of each type
        self.manage("rotate_signing_key")
        self.manage("collectstatic", "--noinput")
        shutil.rmtree(VAR / "prometheus", ignore_errors=True)  # a past run's worker files would be read too
        (VAR / "prometheus").mkdir()
        self.seed = self.site_task("seed", str(PEOPLE))
        (VAR / "seed.json").write_text(json.dumps(self.seed))
        print("Measuring one argon2id verify…", flush=True)
        self.argon2 = self.site_task("argon2", "20")

        web = self.gunicorn("gunicorn", "identity.wsgi")
        baseline = self.gunicorn("baseline", "bench.baseline.wsgi", DJANGO_SETTINGS_MODULE="bench.baseline.settings")
        if allauth:
            if preparing.wait() != 0:
                raise SystemExit("preparing the stock allauth site's database failed")
            self.gunicorn("allauth", "bench.allauth_site.wsgi", **self.allauth_env())
        self.spawn(
            "celery",
            [
                str(BIN / "celery"),
                "-A",
                "identity",
                "worker",
                "--concurrency=1",
                "--loglevel=WARNING",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
        )
        self.wait_for("gunicorn", "/healthz", web)
        self.wait_for("baseline", "/", baseline)
        if allauth:
            self.wait_for("allauth", "/accounts/login/", self.procs["allauth"])
        self.workers = len(psutil.Process(web.pid).children())

    def fresh_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        if "bench" not in name:
            raise SystemExit(f"refusing to drop {name!r}: the bench database's name must contain 'bench'")
        with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')

    def smtp_sink(self) -> None:
        from aiosmtpd.controller import Controller

        class Count:
            received = 0

            async def handle_DATA(self, server, session, envelope):
                Count.received += 1
                return "250 OK"

        self.mail = Count
        controller = Controller(Count(), hostname="127.0.0.1", port=self.ports["smtp"])
        controller.start()
        self.exits.callback(controller.stop)

    # --- measuring --------------------------------------------------------------------------------

    def server_processes(self) -> list[psutil.Process]:
        names = ("gunicorn", "baseline", "allauth", "celery", "redis-redis", "redis-broker")
        procs = [psutil.Process(self.procs[name].pid) for name in names if name in self.procs]
        procs += [p for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres" and p.ppid() == 1]
        return procs

    def cpu_seconds(self) -> dict[str, float]:
        """CPU each server has used so far, its exited children (recycled workers) included. A server
        that is gone is an error; a child that exits while it is read (a recycled worker, an autovacuum
        worker) is counted by its parent's children_* times from then on."""
        totals: dict[str, float] = {}
        for proc in self.server_processes():
            t = proc.cpu_times()  # raises if a server itself died: the run is void
            used = t.user + t.system + t.children_user + t.children_system
            for child in proc.children(recursive=True):
                try:
                    c = child.cpu_times()
                except psutil.NoSuchProcess:
                    continue
                used += c.user + c.system
            key = (
                "postgres" if proc.name() == "postgres" else next(n for n, p in self.procs.items() if p.pid == proc.pid)
            )
            totals[key] = totals.get(key, 0.0) + used
        return totals

    def counters(self) -> dict:
        """Read once the Celery worker has finished what the load queued, so its work is charged to
        the scenario that caused it and to no other."""
        wait_until_broker_idle(self.broker, timeout=120)
        info = self.redis.info("stats", "commandstats")  # one round trip: both sections at the same instant
        return {
            "cpu": self.cpu_seconds(),
            "redis_reads": info["total_reads_processed"],
            "redis_pings": info.get("cmdstat_ping", {}).get("calls", 0),
            "mail": self.mail.received,
        }

    def cold_web_workers(self) -> int:
        """Web workers with no Redis connection yet. The first request a worker serves opens one (its
        handshake is a few round trips more), and the signin scenario runs first, on fresh workers: a
        short window would charge those to its few operations."""
        redis_port = self.ports["redis"]
        cold = 0
        for worker in psutil.Process(self.procs["gunicorn"].pid).children():
            try:
                connections = worker.net_connections(kind="tcp")
            except psutil.NoSuchProcess:
                continue  # recycled meanwhile; its successor is seen next time
            cold += not any(
                c.raddr and c.raddr.port == redis_port and c.status == psutil.CONN_ESTABLISHED for c in connections
            )
        return cold

    def scenario(self, name: str) -> dict:
        site = OTHER_SITES.get(name, "gunicorn")
        base = self.base(site)
        argv = [
            sys.executable,
            "-m",
            "bench.driver",
            "--base",
            base,
            "--scenario",
            name,
            "--users",
            str(self.args.users),
            "--seconds",
            str(self.args.seconds),
            "--warmup",
            str(self.args.warmup),
            "--seed",
            str(VAR / "seed.json"),
            "--origin",
            self.env["SITE_URL"] if site == "gunicorn" else base,  # the others trust only their own address
        ]
        if self.certificate:
            argv += ["--ca", str(self.certificate[0])]
        driver = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert driver.stdin and driver.stdout  # both piped
        assert driver.stdout.readline().strip() == "READY", f"the {name} driver failed to set up"
        extra_warmups, stalled, cold = 0, 0, (self.cold_web_workers() if site == "gunicorn" else 0)
        while cold and stalled < STALLED_WARMUPS:  # workers the load never reaches stay cold in the window too
            driver.stdin.write("WARM\n")
            driver.stdin.flush()
            assert driver.stdout.readline().strip() == "READY", f"the {name} driver failed to warm up"
            extra_warmups += 1
            still_cold = self.cold_web_workers()
            stalled = stalled + 1 if still_cold == cold else 0
            cold = still_cold
        profiler = self.profiler(name) if name in self.args.profile else None
        before = self.counters()
        driver.stdin.write("GO\n")
        driver.stdin.flush()
        assert driver.stdout.readline().strip() == "END"
        after = self.counters()
        if profiler:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(60)
            print(hot_spots(VAR / f"profile-{name}.txt"))
        result = json.loads(driver.stdout.readline())
        driver.wait(30)

        used = {key: after["cpu"].get(key, 0.0) - before["cpu"].get(key, 0.0) for key in after["cpu"]}
        if site == "gunicorn":
            server_cpu = sum(v for k, v in used.items() if k not in OTHER_SITES.values())
        else:
            server_cpu = sum(used.get(k, 0.0) for k in (site, *SHARED_SERVERS[site]))
        ops, requests = max(result["operations"], 1), max(result["requests"], 1)
        result.update(
            {
                "web_cpu_ms_per_op": used[site] / ops * 1000,
                "server_cpu_ms_per_op": server_cpu / ops * 1000,
                "server_cpu_ms_per_request": server_cpu / requests * 1000,
                "cpu_by_process_s": {k: round(v, 3) for k, v in used.items()},
                "ops_per_core_second": ops / server_cpu if server_cpu else 0.0,
                # Less the one INFO that read `after`, and the health-check PINGs of idle connections.
                "redis_round_trips_per_op": (
                    after["redis_reads"] - before["redis_reads"] - 1 - (after["redis_pings"] - before["redis_pings"])
                )
                / ops,
                "extra_warmups": extra_warmups,
                "cold_web_workers": cold,
                "mail_delivered": after["mail"] - before["mail"],
            }
        )
        return result

    def profiler(self, name: str) -> subprocess.Popen:
        """py-spy sampling every web worker through the load window (collapsed stacks, one per line)."""
        web = self.procs[OTHER_SITES.get(name, "gunicorn")]
        out = VAR / f"profile-{name}.txt"
        return subprocess.Popen(
            [
                str(BIN / "py-spy"),
                "record",
                "--pid",
                str(web.pid),
                "--subprocesses",
                "--rate",
                "250",
                "--format",
                "raw",
                "--nonblocking",
                "-o",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def extras(self) -> dict:
        """The measurements that are not a load: round trips of one rate-limit check, memory per session."""
        return {"ratelimit": self.site_task("ratelimit", "1000"), "sessions": self.site_task("sessions", "10000")}


def hot_spots(path: Path, top: int = 40) -> str:
    """The functions the workers spent their samples in, inclusive, from py-spy's collapsed stacks."""
    inclusive: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        total += int(count)
        for frame in set(stack.split(";")):
            inclusive[frame] = inclusive.get(frame, 0) + int(count)
    ranked = sorted(inclusive.items(), key=lambda item: -item[1])[:top]
    return "\n".join(f"{count / total:6.1%}  {frame}" for frame, count in ranked)


def ratios(results: dict, extras: dict, argon2: dict, cores: int) -> dict:
    """The numbers the targets are stated in; *_throughput variants are the raw, driver-bound ones."""
    out = {"argon2_limit_per_s": cores / argon2["seconds"]}
    if "signin" in results:
        r = results["signin"]
        out["signin_vs_argon2_limit"] = argon2["seconds"] * 1000 / r["server_cpu_ms_per_op"]
        out["signin_vs_argon2_limit_throughput"] = r["throughput"] / out["argon2_limit_per_s"]
    if "codeflow" in results:
        out["codeflow_logins_per_core_s"] = results["codeflow"]["ops_per_core_second"]
    for name in ("refresh", "client_credentials"):
        if name in results:
            out[f"{name}_requests_per_core_s"] = results[name]["ops_per_core_second"]
    if "passkey" in results:
        out["passkey_signins_per_core_s"] = results["passkey"]["ops_per_core_second"]
    if "signed_in_page" in results and "bare_django" in results:
        page, bare = results["signed_in_page"], results["bare_django"]
        out["signed_in_page_vs_bare"] = bare["server_cpu_ms_per_op"] / page["server_cpu_ms_per_op"]
        out["signed_in_page_vs_bare_throughput"] = page["throughput"] / bare["throughput"]
    if "signed_in_page" in results and "allauth_signed_in_page" in results:
        page, stock = results["signed_in_page"], results["allauth_signed_in_page"]
        out["signed_in_page_vs_allauth"] = stock["server_cpu_ms_per_op"] / page["server_cpu_ms_per_op"]
    if extras:
        out["ratelimit_round_trips"] = extras["ratelimit"]["round_trips_per_check"]
        out["session_bytes"] = extras["sessions"]["bytes_per_session"]
    return out


def verdicts(out: dict, results: dict) -> dict:
    """Each target: its value, the goal, and met / MISSED (or INVALID when a scenario it rests on had errors)."""
    found = {}
    for key, label, target, at_most, fmt, scenarios in TARGETS:
        if key not in out:
            continue
        value = out[key]
        met = value <= target if at_most else value >= target
        failed = any(results[name]["errors"] for name in scenarios)
        verdict = "INVALID" if failed else ("met" if met else "MISSED")
        found[key] = {
            "label": label,
            "value": value,
            "target": f"{'<=' if at_most else '>='} {target}",
            "verdict": verdict,
            "shown": fmt.format(value),
        }
    return found


def table(results: dict, out: dict, found: dict, argon2: dict) -> str:
    head = (
        f"{'scenario':<24}{'ops/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}"
        f"{'CPU ms/op':>11}{'web ms':>8}{'Redis RT':>10}{'ops/core-s':>12}"
    )
    lines = [head, "-" * len(head)]
    for name, r in results.items():
        lines.append(
            f"{name:<24}{r['throughput']:>9.1f}{r['p50_ms']:>9.1f}{r['p95_ms']:>9.1f}{r['p99_ms']:>9.1f}{r['errors']:>8}"
            f"{r['server_cpu_ms_per_op']:>11.2f}{r['web_cpu_ms_per_op']:>8.2f}{r['redis_round_trips_per_op']:>10.2f}"
            f"{r['ops_per_core_second']:>12.1f}"
        )
    lines += [
        "",
        f"argon2id verify: {argon2['seconds'] * 1000:.1f} ms CPU "
        f"(m={argon2['memory_kib']} KiB, t={argon2['time_cost']}); "
        f"limit {out['argon2_limit_per_s']:.1f} sign-ins/s on this machine",
        "",
    ]
    for item in found.values():
        lines.append(f"{item['label']:<48}{item['shown']:>10}  target {item['target']:<8} {item['verdict']}")
    for key, label in (
        ("signin_vs_argon2_limit_throughput", "password sign-in vs argon2id limit, raw throughput"),
        ("signed_in_page_vs_bare_throughput", "signed-in page vs bare Django, raw throughput"),
    ):
        if key in out:
            lines.append(f"{label:<48}{out[key]:>10.2f}  (driver-bound; for reference)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15, help="load per scenario")
    parser.add_argument("--warmup", type=float, default=3, help="unmeasured load before each scenario")
    parser.add_argument("--users", type=int, default=8, help=f"concurrent virtual users (at most {PEOPLE})")
    parser.add_argument("--only", nargs="*", choices=list(SCENARIOS), default=list(SCENARIOS))
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/identity_bench"),
    )
    parser.add_argument("--tls", action="store_true", help="every site serves https (a self-signed certificate)")
    parser.add_argument("--profile", nargs="*", default=[], choices=SCENARIOS, help="py-spy these scenarios")
    parser.add_argument("--out", default=str(VAR / "results.json"))
    args = parser.parse_args()
    if not 0 < args.users <= PEOPLE:
        parser.error(f"--users must be between 1 and {PEOPLE}: each virtual user is a person of its own")
    started = time.monotonic()
    with ExitStack() as exits:
        bench = Bench(exits, args)
        bench.start()
        cores = len(os.sched_getaffinity(0))  # the CPUs this run may use, not all the machine has
        print(
            f"Identity on {bench.workers} gunicorn workers{' over TLS' if args.tls else ''}, {cores} cores; "
            f"{args.users} virtual users, {args.seconds:g} s per scenario.",
            flush=True,
        )
        results = {}
        for name in args.only:
            print(f"  {name}…", flush=True)
            results[name] = bench.scenario(name)
        extras = bench.extras() if "signed_in_page" in results else {}
        out = ratios(results, extras, bench.argon2, cores)
        found = verdicts(out, results)
        report = {
            "machine": {"cores": cores, "gunicorn_workers": bench.workers, "tls": args.tls},
            "argon2": bench.argon2,
            "scenarios": results,
            "ratios": out,
            "targets": found,
            **extras,
            "wall_seconds": time.monotonic() - started,
        }
    Path(args.out).write_text(json.dumps(report, indent=2))
    print()
    print(table(results, out, found, bench.argon2))
    print(f"\nResults: {args.out} ({report['wall_seconds']:.0f} s in all)")


if __name__ == "__main__":
    main()
