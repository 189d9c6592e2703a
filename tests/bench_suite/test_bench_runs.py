"""`make bench` keeps working: every scenario runs briefly against the production-like stack, with no
errors, and the counts that do not depend on the machine hold (round trips, memory per session)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.driver import SCENARIOS
from tests.processes import database_url

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.processes


@pytest.fixture(scope="module")
def results(redis_server_binary, tmp_path_factory) -> dict:
    url = database_url("identity_bench_ci")
    out = tmp_path_factory.mktemp("bench") / "results.json"
    argv = [
        sys.executable,
        "-m",
        "bench.run",
        "--seconds",
        "1",
        "--warmup",
        "0.5",
        "--users",
        "2",
        "--database-url",
        url,
        "--out",
        str(out),
    ]
    run = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "target" in run.stdout  # the table was printed
    return json.loads(out.read_text())


def test_every_scenario_runs_without_errors(results):
    assert set(results["scenarios"]) == set(SCENARIOS)
    for name, scenario in results["scenarios"].items():
        assert scenario["operations"] > 0, name
        assert scenario["errors"] == 0, (name, scenario["error_kinds"])
        assert scenario["server_cpu_ms_per_op"] > 0, name


def test_a_signed_in_page_costs_redis_one_round_trip(results):
    assert results["scenarios"]["signed_in_page"]["redis_round_trips_per_op"] == pytest.approx(1, abs=0.1)


def test_a_password_sign_in_costs_redis_three_round_trips(results):
    """Count the attempt, write the new session once, forgive the failures."""
    assert results["scenarios"]["signin"]["redis_round_trips_per_op"] == pytest.approx(3, abs=0.2)


def test_a_rate_limit_check_is_one_round_trip_and_a_session_under_a_kilobyte(results):
    assert results["ratelimit"]["round_trips_per_check"] == pytest.approx(1, abs=0.01)
    assert results["sessions"]["bytes_per_session"] < 1024
    assert {item["verdict"] for item in results["targets"].values()} <= {"met", "MISSED"}  # none INVALID


def test_the_signed_in_page_is_compared_with_the_stock_allauth_site(results):
    """Its page is served by its own gunicorn (the CPU charged to it is that and PostgreSQL's), after
    each user signed in through allauth's form; the target row compares CPU per page."""
    stock, page = results["scenarios"]["allauth_signed_in_page"], results["scenarios"]["signed_in_page"]
    assert (
        stock["cpu_by_process_s"]["allauth"] > 0
        and stock["cpu_by_process_s"]["gunicorn"] < stock["cpu_by_process_s"]["allauth"]
    )
    assert results["ratios"]["signed_in_page_vs_allauth"] == pytest.approx(
        stock["server_cpu_ms_per_op"] / page["server_cpu_ms_per_op"]
    )
    assert results["targets"]["signed_in_page_vs_allauth"]["target"] == ">= 1.0"


def test_a_token_grant_costs_redis_two_round_trips(results):
    """Count the request against the client and the address, then give one back; the app's server
    sends no session cookie, so there is no session to read."""
    for name in ("refresh", "client_credentials"):
        assert results["scenarios"][name]["redis_round_trips_per_op"] == pytest.approx(2, abs=0.2), name


# --- statements per operation, counted in one process (bench.inprocess) -------------------------

# What each operation runs against PostgreSQL, savepoints left out: a change that brings back a query
# (DOT's twenty-four for a refresh, the sign-in page's provider buttons on a sign-in that redirects)
# fails here by name. Raise a number only with the reason in docs/performance.md.
STATEMENTS = {
    "refresh": 9,  # client, token + access token + person + family, granted scopes, spend (3), ID token, 2 inserts
    "client_credentials": 4,  # client, granted scopes twice (default scopes, validation), the access token
    "signed_in_page": 1,  # the person
    "signin": 7,  # providers of the domain, person, second factor?, last_login, previous sign-in, event, device
    "passkey": 8,
    "codeflow": 28,  # 27, and the sign-in page naming the app that sent the person (issue 19)
}


@pytest.fixture(scope="module")
def statements(results, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("inprocess")
    found = {}
    for name in STATEMENTS:
        path = out / f"{name}.json"
        argv = [sys.executable, "-m", "bench.inprocess", name, "--ops", "4", "--warmup", "2", "--top", "0"]
        argv += ["--database-url", database_url("identity_bench_ci"), "--json", str(path)]
        run = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        found[name] = json.loads(path.read_text())
    return found


@pytest.mark.parametrize("name", sorted(STATEMENTS))
def test_statements_per_operation(statements, name):
    counted = statements[name]
    assert counted["sql_per_op"] == STATEMENTS[name], json.dumps(counted["statements_per_op"], indent=1)
