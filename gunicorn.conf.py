"""gunicorn settings for Identity (read automatically from the project root; override with env vars)."""

import multiprocessing
import os
import ssl

bind = os.environ.get("BIND", "127.0.0.1:8000").split()
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))  # a request running longer is killed
graceful_timeout = 30  # on SIGTERM, in-flight requests get this long to finish
keepalive = 5
max_requests = 5000  # recycle workers now and then (memory); jitter avoids all at once
max_requests_jitter = 500
# The app is loaded once, in the master, and forked: five workers on two cores take 203 MiB instead of
# 405 (their code pages are shared), the site is up in 2 s instead of 7, and a recycled worker serves at
# once instead of spending 0.6 s of CPU importing (docs/performance.md). Loading opens no connection
# (tests/identity/test_faults_more.py checks the master holds none). The price: `kill -HUP` re-forks the
# loaded code, so a deploy restarts gunicorn (docs/deployment.md). PRELOAD_APP=0 loads in every worker.
preload_app = os.environ.get("PRELOAD_APP", "1") != "0"
# Believe X-Forwarded-* only from our trusted proxies (as the site does).
forwarded_allow_ips = os.environ.get("TRUSTED_PROXIES", "127.0.0.1") or "127.0.0.1"
accesslog = "-"
logger_class = "identity.gunicorn_logging.JsonAccessLogger"


_tls: dict[str, ssl.SSLContext] = {}


def ssl_context(config, default_ssl_context_factory):
    """One TLS context per worker, not one per connection (gunicorn's default builds a new one each time,
    about 1.1 ms of CPU per request when gunicorn itself terminates TLS: bench/handshake.py). Made in the
    worker on its first connection, so a renewed certificate is read by workers started after it."""
    if "context" not in _tls:
        _tls["context"] = default_ssl_context_factory()
    return _tls["context"]


def child_exit(server, worker):
    """Forget a dead worker's live metrics (prometheus-client multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
