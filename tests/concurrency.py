"""Racing requests against each other."""

from __future__ import annotations

import threading

from django.db import connection as db_connection


def run_in_parallel(requests: list) -> list:
    """Run each callable in its own thread, released together; return their results in order."""
    barrier = threading.Barrier(len(requests))
    results: list = [None] * len(requests)

    def run(i, request):
        try:
            barrier.wait(timeout=10)
            results[i] = request()
        except Exception as error:  # noqa: BLE001 - the caller's assertion shows it
            results[i] = error
        finally:
            db_connection.close()

    threads = [threading.Thread(target=run, args=(i, r)) for i, r in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results
