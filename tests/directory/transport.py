"""A requests transport into Django's test client, so an HTTP client library (authlib's OAuth2Session)
talks to Identity in this process: real requests and answers, no live server."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from django.test import Client as Browser
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

# Headers the test client sets itself from its arguments.
OWN_HEADERS = {"content-length", "content-type", "host"}


class DjangoTransport(BaseAdapter):
    def __init__(self, http: Browser | None = None):
        super().__init__()
        self.http = http or Browser()

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        parts = urlsplit(request.url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {name: value for name, value in request.headers.items() if name.lower() not in OWN_HEADERS}
        answer = self.http.generic(
            request.method,
            path,
            data=request.body or b"",
            content_type=request.headers.get("Content-Type", ""),
            headers=headers,
        )
        response = requests.Response()
        response.status_code = answer.status_code
        response._content = answer.content
        response.headers = CaseInsensitiveDict(dict(answer.headers))
        response.url = request.url
        response.request = request
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        pass
