"""What the browser tests share besides fixtures: Debian's Chromium and its flags, numbered screenshots,
and a watch on the console and the requests of every page."""

import shutil
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


class Screenshots:
    """test-artifacts/<folder>/NN-name.png, numbered across the tests of one module (emptied first)."""

    def __init__(self, folder: str):
        self.folder = ARTIFACTS / folder
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.count = 0

    def __call__(self, page, name: str) -> None:
        self.count += 1
        page.screenshot(path=str(self.folder / f"{self.count:02d}-{name}.png"), full_page=True)


class Watch:
    """Console errors, uncaught page errors and requests of every page, for assertions at the end."""

    def __init__(self, site: str):
        self.site = site
        self.errors: list[str] = []
        self.requests: list[tuple[str, str]] = []

    def attach(self, page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        page.on("request", lambda request: self.requests.append((request.method, request.url)))

    def _console(self, message) -> None:
        if message.type != "error":
            return
        # Neither the site nor the example app has a favicon; Chromium asks for one on every page and
        # logs the 404 as an error.
        if (message.location.get("url") or "").endswith("/favicon.ico"):
            return
        self.errors.append(f"console: {message.text} ({message.location.get('url')})")

    def mark(self) -> int:
        return len(self.requests)

    def posts(self, path: str, since: int = 0) -> int:
        return sum(1 for method, url in self.requests[since:] if method == "POST" and url == f"{self.site}{path}")


def signed_in_context(browser, session_cookie: str, *, locale: str = "en", width: int = 1280, height: int = 800):
    """A browser context holding this session (from Django's test client, tests/users.py): __Host- and
    Secure as the site sets it; Chromium keeps Secure cookies for http://localhost."""
    from django.conf import settings

    context = browser.new_context(viewport={"width": width, "height": height}, locale=locale)
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": session_cookie,
                "domain": "localhost",
                "path": "/",
                "secure": True,
            }
        ]
    )
    return context
