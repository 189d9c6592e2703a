"""The two-node cluster behind nginx, started once per test module (see cluster.py)."""

from __future__ import annotations

import shutil
from contextlib import ExitStack

import pytest

from tests.processes import unavailable
from tests.scaleout.cluster import Cluster


@pytest.fixture(scope="module")
def nginx_binary() -> str:
    # Debian puts it in /usr/sbin, which is not on a normal user's PATH.
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if not found:
        unavailable("nginx is not installed (apt-get install nginx)")
    return found


@pytest.fixture(scope="module")
def cluster(redis_server_binary, nginx_binary, django_db_setup, tmp_path_factory):
    with ExitStack() as exits:
        nodes = Cluster(tmp_path_factory.mktemp("nodes"), exits, nginx_binary)
        nodes.ensure_nodes()
        nodes.start_nginx()
        yield nodes


@pytest.fixture
def nodes(cluster) -> Cluster:
    cluster.ensure_nodes()
    return cluster
