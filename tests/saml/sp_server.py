"""The service provider as a tiny web app in a thread, for browser tests: `/login` starts a sign-on, `/acs/`
shows what the verified response said (elements with ids a Playwright test reads) or pysaml2's complaint,
`/slo/` and `/slo/soap/` take part in single logout, `/logout` starts one for the last sign-on. Every SAML
message that arrives is recorded in `sp.received`."""

from __future__ import annotations

import html
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from tests.loopback import serve_in_thread
from tests.saml.service_provider import POST, REDIRECT, SOAP, LogoutMessage, Received, SignOn

if TYPE_CHECKING:
    from tests.saml.service_provider import ServiceProvider

BINDINGS = {"redirect": REDIRECT, "post": POST}


def auto_post_form(action: str, fields: dict[str, str]) -> str:
    """The page a SAML party uses for the POST binding: a form the browser submits by itself."""
    inputs = "".join(
        f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
        for name, value in fields.items()
    )
    return (
        f'<form id="saml" method="post" action="{html.escape(action)}">{inputs}'
        '<noscript><button type="submit">Continue</button></noscript></form>'
        "<script>document.getElementById('saml').submit()</script>"
    )


def sign_on_page(sign_on: SignOn) -> str:
    attributes = "".join(
        f'<li data-attribute="{html.escape(name)}">{html.escape(value)}</li>'
        for name, values in sorted(sign_on.attributes_by_name.items())
        for value in values
    )
    return (
        f'<h1>Signed in</h1><p id="name-id">{html.escape(sign_on.name_id)}</p>'
        f'<p id="name-id-format">{html.escape(sign_on.name_id_format or "")}</p>'
        f'<p id="authn-context">{html.escape(sign_on.authn_context_class_ref or "")}</p>'
        f'<p id="session-index">{html.escape(sign_on.session_index or "")}</p>'
        f'<p id="issuer">{html.escape(sign_on.issuer)}</p><ul id="attributes">{attributes}</ul>'
    )


def make_handler(sp: ServiceProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature; tests read sp.received
            pass

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            fields = {key: values[0] for key, values in parse_qs(url.query).items()}
            lists = parse_qs(url.query)
            if url.path == "/metadata/":
                self._send(200, sp.metadata_xml(), "application/samlmetadata+xml")
            elif url.path == "/login":
                self._login(fields, lists.get("authn_context"))
            elif url.path == "/logout":
                self._logout(BINDINGS[fields.get("binding", "redirect")])
            elif url.path == "/slo/":
                self._slo(url.path, fields, REDIRECT)
            else:
                self._send(404, "not found")

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            path = urlsplit(self.path).path
            fields = {key: values[0] for key, values in parse_qs(body).items()}
            if path == "/acs/":
                self._acs(fields)
            elif path == "/slo/":
                self._slo(path, fields, POST)
            elif path == "/slo/soap/":
                self._soap_slo(body)
            else:
                self._send(404, "not found")

        def _login(self, fields: dict[str, str], authn_context: list[str] | None) -> None:
            options: dict[str, Any] = {
                "force_authn": fields.get("force_authn") == "1",
                "is_passive": fields.get("is_passive") == "1",
                "authn_context": [ref for refs in authn_context or [] for ref in refs.split(",")] or None,
                "comparison": fields.get("comparison", "minimum"),
                "relay_state": fields.get("relay_state", ""),
            }
            if fields.get("binding") == "post":
                _, action, form = sp.post_request(**options)
                self._send(200, auto_post_form(action, form))
            else:
                self._redirect(sp.redirect_request(**options)[1])

        def _acs(self, fields: dict[str, str]) -> None:
            received = Received("/acs/", fields)
            sp.received.append(received)
            try:
                received.result = sp.parse_response(fields.get("SAMLResponse", ""))
            except Exception as error:  # noqa: BLE001 - the page shows whatever pysaml2 refused
                received.error = f"{type(error).__name__}: {error}"
                self._send(400, f'<h1>Refused</h1><p id="error">{html.escape(received.error)}</p>')
                return
            self._send(200, sign_on_page(received.result))

        def _logout(self, binding: str) -> None:
            sign_on = sp.last_sign_on
            if sign_on is None:
                self._send(400, '<p id="error">nobody is signed in</p>')
                return
            _, url, form = sp.logout_request(
                sign_on.name_id, sign_on.session_index, binding, name_id_format=sign_on.name_id_format
            )
            self._redirect(url) if form is None else self._send(200, auto_post_form(url, form))

        def _slo(self, path: str, fields: dict[str, str], binding: str) -> None:
            received = Received(path, fields)
            sp.received.append(received)
            try:
                if "SAMLRequest" in fields:
                    received.result = request = sp.parse_logout_request(fields, binding)
                    answer = sp.logout_response(request, binding, fields.get("RelayState", ""))
                else:
                    received.result = sp.parse_logout_response(fields, binding)
                    sp.last_sign_on = None
                    answer = None
            except Exception as error:  # noqa: BLE001
                received.error = f"{type(error).__name__}: {error}"
                self._send(400, f'<h1>Refused</h1><p id="error">{html.escape(received.error)}</p>')
                return
            if answer is None:
                self._send(200, '<h1 id="logged-out">Signed out</h1>')
            elif binding == REDIRECT:
                self._redirect(answer["url"])
            else:
                self._send(200, auto_post_form(answer["url"], answer["fields"]))

        def _soap_slo(self, body: str) -> None:
            received = Received("/slo/soap/", {"soap": body})
            sp.received.append(received)
            try:
                request: LogoutMessage = sp.parse_logout_request(body, SOAP)
            except Exception as error:  # noqa: BLE001
                received.error = f"{type(error).__name__}: {error}"
                self._send(400, received.error, "text/plain")
                return
            received.result = request
            sp.last_sign_on = None
            self._send(200, sp.logout_response(request, SOAP)["soap"], "text/xml")

        def _redirect(self, location: str) -> None:
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _send(self, status: int, text: str, content_type: str = "text/html") -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", f"{content_type}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@contextmanager
def serving(cls: type[ServiceProvider], **options) -> Iterator[ServiceProvider]:
    """Bind first (port 0: the kernel picks a free one), then build the SP on that address."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    sp = cls(base_url=f"http://127.0.0.1:{server.server_port}", **options)
    server.RequestHandlerClass = make_handler(sp)
    thread = serve_in_thread(server)
    try:
        yield sp
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
