"""What TLS costs a gunicorn sync worker per request: the baseline's one view served by one worker under
gunicorn.conf.py, each request on a new connection (as the sync worker serves them), the worker's own
CPU around them; over http, over https as gunicorn ships (a new SSLContext per connection), and over
https with one context made once (gunicorn's `ssl_context` hook returning it every time).

    python -m bench.handshake [--requests 1000]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import psutil

from bench import tls
from bench.run import ROOT, gunicorn_argv
from tests.processes import free_port

# gunicorn.conf.py as it is, plus a hook that hands every connection the same context.
ONE_CONTEXT = """
exec(open("gunicorn.conf.py").read())
_made = []


def ssl_context(conf, default_ssl_context_factory):
    if not _made:
        _made.append(default_ssl_context_factory())
    return _made[0]
"""


def worker_ms_per_request(argv: list[str], base: str, ca: Path, requests: int) -> float:
    port = base.rsplit(":", 1)[1]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
        "DJANGO_SETTINGS_MODULE": "bench.baseline.settings",
    }
    site = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        with httpx.Client(verify=tls.client_context(ca), limits=httpx.Limits(max_keepalive_connections=0)) as client:
            for _ in range(100):
                try:
                    client.get(base + "/")
                    break
                except httpx.HTTPError:
                    time.sleep(0.2)
            for _ in range(50):  # warm: the first requests import and connect
                client.get(base + "/")
            (worker,) = psutil.Process(site.pid).children()
            before = sum(worker.cpu_times()[:2])
            for _ in range(requests):
                if client.get(base + "/").status_code != 200:
                    raise SystemExit("the baseline did not answer 200")
            return (sum(worker.cpu_times()[:2]) - before) / requests * 1000
    finally:
        os.killpg(site.pid, signal.SIGTERM)
        site.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        certificate = tls.self_signed(Path(scratch))
        one_context = Path(scratch) / "one_context.conf.py"
        one_context.write_text(ONE_CONTEXT)
        module = "bench.baseline.wsgi"
        cases = {
            "http": (gunicorn_argv(module), "http"),
            "https, gunicorn as shipped": (gunicorn_argv(module, certificate), "https"),
            "https, one SSLContext": (gunicorn_argv(module, certificate, config=str(one_context)), "https"),
        }
        for label, (argv, scheme) in cases.items():
            ms = worker_ms_per_request(argv, f"{scheme}://127.0.0.1:{free_port()}", certificate[0], args.requests)
            print(f"{label:<28}{ms:6.2f} ms worker CPU per request", flush=True)


if __name__ == "__main__":
    main()
