"""Two gunicorn nodes behind nginx (the Debian package, run in the foreground with a config in tmp),
sharing one redis-server and pytest's test database, and a browser that talks to either node or to
nginx. Used by test_two_nodes.py and test_node_failure.py; the fixtures are in conftest.py."""

from __future__ import annotations

import html
import http.client
import json
import os
import re
import signal
import socket
import subprocess
from contextlib import ExitStack
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from tests.processes import free_port
from tests.stack import CSRF, GUNICORN, ROOT, Stack, wait_for
from tests.users import PASSWORD

NODE_WORKERS = 2
# Only the per-account-and-address limit is lowered, for the test that counts failures across nodes.
RATE_LIMITS = "signin-ip-account=3/15m"
NEXT_FIELD = re.compile(r'name="next" value="([^"]*)"')


# --- The cluster -------------------------------------------------------------------------------


NGINX_CONF = """\
{user}
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log info;
events {{ worker_connections 512; }}
http {{
    access_log {tmp}/nginx-access.log;
    client_body_temp_path {tmp}/nginx-temp/body;
    proxy_temp_path {tmp}/nginx-temp/proxy;
    fastcgi_temp_path {tmp}/nginx-temp/fastcgi;
    uwsgi_temp_path {tmp}/nginx-temp/uwsgi;
    scgi_temp_path {tmp}/nginx-temp/scgi;

    upstream identity {{
        # Passive health checks: one failed attempt takes a node out for fail_timeout, then it is tried again.
        server 127.0.0.1:{port_a} max_fails=1 fail_timeout=5s;
        server 127.0.0.1:{port_b} max_fails=1 fail_timeout=5s;
    }}
    server {{
        listen 127.0.0.1:{site_port};
        location / {{
            proxy_pass http://identity;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_connect_timeout 1s;
            # A refused connection means the request never left nginx, so it goes to the other node
            # even for a POST. Without `non_idempotent`, a POST already sent to a node that then died
            # is not replayed (it may have been acted on): the person gets a 502 and can retry.
            proxy_next_upstream error timeout http_502 http_503;
            proxy_next_upstream_tries 2;
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
"""


class Cluster(Stack):
    """Stack's redis-server, SMTP sink and environment, with two gunicorn nodes and nginx in front."""

    def __init__(self, tmp: Path, exits: ExitStack, nginx: str):
        super().__init__(tmp, exits)
        self.nginx = nginx
        self.site_port = free_port()
        self.ports = {"a": free_port(), "b": free_port()}
        self.nodes: dict[str, subprocess.Popen] = {}
        self.env.update(
            SITE_URL=self.site_url,
            DJANGO_ALLOWED_HOSTS="127.0.0.1",
            TRUSTED_PROXIES="127.0.0.1",
            RATE_LIMITS=RATE_LIMITS,
            WEB_CONCURRENCY=str(NODE_WORKERS),
            LOG_LEVEL="WARNING",
        )

    @property
    def site_url(self) -> str:
        return f"http://127.0.0.1:{self.site_port}"

    def start_node(self, name: str) -> subprocess.Popen:
        port = self.ports[name]
        log = open(self.tmp / f"node-{name}-{len(self.procs)}.log", "wb")
        self.exits.callback(log.close)
        proc = subprocess.Popen(
            [str(GUNICORN), "identity.wsgi", "-c", "gunicorn.conf.py"],
            cwd=ROOT,
            env={**self.env, "BIND": f"127.0.0.1:{port}"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the master and its workers die together
        )
        self.procs.append(proc)
        self.nodes[name] = proc
        return proc

    def wait_healthy(self, name: str) -> None:
        proc = self.nodes[name]

        def healthy():
            assert proc.poll() is None, f"node {name} exited\n{self.logs()}"
            try:
                return Browser(self, name).request("GET", "/healthz")[0] == 200
            except OSError:
                return False

        wait_for(healthy, 60, f"node {name} /healthz", interval=0.1)

    def ensure_nodes(self) -> None:
        """Start any node that is not running (the kill test leaves one dead)."""
        started = [name for name in self.ports if name not in self.nodes or self.nodes[name].poll() is not None]
        for name in started:
            self.start_node(name)
        for name in started:
            self.wait_healthy(name)

    def kill_node(self, name: str) -> None:
        """SIGKILL the node's master and workers; returns once its port refuses connections."""
        proc = self.nodes[name]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)

        def refused() -> bool:
            try:
                socket.create_connection(("127.0.0.1", self.ports[name]), timeout=1).close()
            except ConnectionRefusedError:
                return True
            return False

        wait_for(refused, 5, f"node {name}'s port to close", interval=0.005)

    def start_nginx(self) -> None:
        (self.tmp / "nginx-temp").mkdir(exist_ok=True)
        conf = self.tmp / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(
                user="user root;" if os.geteuid() == 0 else "",  # root: workers need the private tmp dir
                tmp=self.tmp,
                port_a=self.ports["a"],
                port_b=self.ports["b"],
                site_port=self.site_port,
            )
        )
        log = open(self.tmp / "nginx-stdout.log", "wb")
        self.exits.callback(log.close)
        error_log = str(self.tmp / "nginx-error.log")  # -e: not even startup messages go to /var/log
        argv = [self.nginx, "-p", str(self.tmp), "-c", str(conf), "-e", error_log, "-g", "daemon off;"]
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)

        def up():
            assert proc.poll() is None, f"nginx exited\n{self.nginx_log()}"
            try:
                return Browser(self).request("GET", "/healthz")[0] == 200
            except OSError:
                return False

        wait_for(up, 20, "nginx", interval=0.1)

    def nginx_log(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(self.tmp.glob("nginx-*.log"))
        )


# --- A browser that can talk to either node --------------------------------------------------------


class Browser:
    """One cookie jar; each request goes to a node directly (`node="a"`/"b") or, by default, through nginx.

    It always sends the site's Host and Origin, as a browser on SITE_URL would through the balancer.
    """

    def __init__(self, nodes: Cluster, node: str | None = None):
        self.nodes = nodes
        self.node = node
        self.cookies: dict[str, str] = {}

    def request(
        self,
        method: str,
        path: str,
        form: dict | None = None,
        *,
        json_body: object = None,
        headers: dict | None = None,
        node: str | None = None,
        timeout: float = 15,
    ):
        node = node or self.node
        port = self.nodes.ports[node] if node else self.nodes.site_port
        site = self.nodes.site_url
        sent = {"Host": urlsplit(site).netloc, **(headers or {})}
        body = None
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if form is not None:
            body = urlencode(form)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        elif json_body is not None:
            body = json.dumps(json_body)
            sent["Content-Type"] = "application/json"
            sent["X-CSRFToken"] = self.cookies.get("csrftoken", "")
        if method == "POST":
            sent.setdefault("Origin", site)
            sent.setdefault("Referer", site + path)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            content = response.read().decode(errors="replace")
        finally:
            conn.close()
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response.status, content, response

    def get(self, path: str, node: str | None = None):
        return self.request("GET", path, node=node)

    def form_token(self, path: str, node: str | None = None) -> tuple[str, str]:
        """GET a page with a form; returns its CSRF token and the page."""
        status, page, _ = self.get(path, node)
        assert status == 200, (status, page[:500])
        return CSRF.search(page).group(1), page

    def post_form(self, path: str, fields: dict, *, token_from: str | None = None, node: str | None = None):
        """Fill in the form on `token_from` (default: `path`) and submit it, like a person would."""
        token, _ = self.form_token(token_from or path, node)
        return self.request("POST", path, {"csrfmiddlewaretoken": token, **fields}, node=node)

    def signed_in(self, node: str | None = None) -> bool:
        status = self.get("/accounts/", node)[0]
        assert status in (200, 302), status
        return status == 200


def location(response) -> str:
    return response.headers["Location"]


def password_step(browser: Browser, email: str, node: str, password: str = PASSWORD, next_url: str = ""):
    query = f"?{urlencode({'next': next_url})}" if next_url else ""
    token, page = browser.form_token(f"/accounts/login/{query}", node)
    fields = {"csrfmiddlewaretoken": token, "email": email, "password": password}
    hidden_next = NEXT_FIELD.search(page.split("</main>")[0])  # the sign-in form's, not the language switcher's
    if hidden_next:
        fields["next"] = html.unescape(hidden_next.group(1))
    return browser.request("POST", "/accounts/login/", fields, node=node)


def mfa_step(browser: Browser, code: str, node: str):
    return browser.post_form("/accounts/mfa/", {"code": code}, node=node)
