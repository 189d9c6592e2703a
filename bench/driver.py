"""The load driver: a separate process of asyncio virtual users speaking HTTP to the site, one scenario
per run. It prints READY once every user is set up and warmed up (another warm-up round each time
bench/run.py answers WARM), starts the load when bench/run.py answers GO on stdin, prints END the moment
the load stops (the runner reads the server's counters around exactly that window), then one JSON line
of results.

    python -m bench.driver --base http://127.0.0.1:8000 --scenario signin --users 8 --seconds 20 \
        --seed var/bench/seed.json

Over https (`--ca` names the certificate to trust) each request is a new connection, hence a new TLS
handshake: gunicorn's sync workers close every connection after one response.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import re
import secrets
import sys
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from bench import accounts
from bench.tls import client_context
from tests.mfa.softauthn import SoftAuthenticator

CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
CSRF_COOKIE = "csrftoken"
DEVICE_COOKIE = "device"
SECURE_PREFIX = "__Host-"  # Identity's cookie names over https (SECURE_COOKIES)


class Failed(Exception):
    """One operation did not end the way a working site ends it."""


def expect(response: httpx.Response, status: int) -> httpx.Response:
    if response.status_code != status:
        raise Failed(f"{response.request.method} {response.request.url.path}: {response.status_code}, wanted {status}")
    return response


def cookie(jar: httpx.Cookies, name: str) -> tuple[str, str]:
    """The cookie `name` as the site named it (with or without the https prefix) and its value."""
    for full in (SECURE_PREFIX + name, name):
        value = jar.get(full)
        if value:
            return full, value
    return name, ""


def location(response: httpx.Response) -> str:
    """The redirect target as a path on this site (Locations may name the public origin)."""
    parts = urlsplit(response.headers["location"])
    return parts.path + (f"?{parts.query}" if parts.query else "")


class User:
    """One virtual user: a browser (`http`, a cookie jar) and the app it signs in to (`app`: its server
    calls the token endpoint, without the browser's cookies), acting as person `number`."""

    def __init__(self, client: httpx.AsyncClient, app: httpx.AsyncClient, number: int, seed: dict, origin: str):
        self.http = client
        self.app = app
        self.number = number
        self.seed = seed
        self.origin = origin
        self.posting = {"Origin": origin}  # as browsers send on every POST; CSRF checks it over https
        self.csrf = ""
        self.csrf_cookie = (CSRF_COOKIE, "")
        self.refresh_token = ""
        self.authenticator = SoftAuthenticator(origin=origin)
        self.authenticator.credentials.append(accounts.passkey(number))
        self.signups = 0

    # --- browser pieces ---------------------------------------------------------------------------

    def forget_session(self, keep_form: bool = True) -> None:
        """A returning person whose session ended, on the browser they used before: the device cookie
        stays, and the CSRF cookie that the loaded form's token belongs to (signing in rotates it)."""
        device = cookie(self.http.cookies, DEVICE_COOKIE)
        self.http.cookies.clear()
        if keep_form:
            self.http.cookies.set(*self.csrf_cookie, domain=self.http.base_url.host)
        if device[1]:
            self.http.cookies.set(*device, domain=self.http.base_url.host)

    async def load_form(self, path: str) -> str:
        page = expect(await self.http.get(path), 200)
        found = CSRF_FIELD.search(page.text)
        assert found, f"no CSRF field on {path}"
        self.csrf = found.group(1)
        self.csrf_cookie = cookie(page.cookies, CSRF_COOKIE)
        if not self.csrf_cookie[1]:
            self.csrf_cookie = cookie(self.http.cookies, CSRF_COOKIE)
        return path

    async def sign_in(self, next_url: str = "") -> str:
        """Password sign-in; where it leads, which must be where a signed-in person goes (not the
        second-factor page: that would be half a sign-in counted as a whole one)."""
        form = {"csrfmiddlewaretoken": self.csrf, "email": accounts.email(self.number), "password": accounts.PASSWORD}
        if next_url:
            form["next"] = next_url
        target = location(expect(await self.http.post("/accounts/login/", data=form, headers=self.posting), 302))
        if target != (next_url or "/accounts/"):
            raise Failed(f"sign-in led to {target}")
        return target

    # --- app pieces -------------------------------------------------------------------------------

    def _basic(self, client: dict) -> tuple[str, str]:
        return (client["client_id"], client["client_secret"])

    async def token(self, form: dict, client: dict) -> dict:
        response = expect(await self.app.post("/oauth/token/", data=form, auth=self._basic(client)), 200)
        return response.json()

    async def code_flow(self) -> dict:
        """The whole authorization-code login: authorize, sign-in page, credentials, code, token, by a
        returning person on a browser they used before (signed out, device cookie kept)."""
        self.forget_session(keep_form=False)
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        web, redirect_uri = self.seed["web"], self.seed["redirect_uri"]
        query = urlencode(
            {
                "response_type": "code",
                "client_id": web["client_id"],
                "redirect_uri": redirect_uri,
                "scope": "openid email offline_access",
                "state": secrets.token_urlsafe(12),
                "nonce": secrets.token_urlsafe(12),
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        to_signin = location(expect(await self.http.get(f"/oauth/authorize/?{query}"), 302))
        await self.load_form(to_signin)
        next_url = parse_qs(urlsplit(to_signin).query)["next"][0]
        back = await self.sign_in(next_url)
        answer = expect(await self.http.get(back), 302).headers["location"]
        if not answer.startswith(redirect_uri):
            raise Failed(f"authorize answered {answer}")
        code = parse_qs(urlsplit(answer).query)["code"][0]
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        tokens = await self.token(form, web)
        if "id_token" not in tokens:
            raise Failed("no ID token")
        return tokens


# --- scenarios: setup once per user, then one operation per call ----------------------------------


async def signin_setup(user: User) -> None:
    await user.load_form("/accounts/login/")


async def signin_once(user: User) -> int:
    user.forget_session()
    await user.sign_in()
    return 1


async def codeflow_once(user: User) -> int:
    await user.code_flow()
    return 5  # authorize, sign-in page, credentials, authorize again (the code), token


async def refresh_setup(user: User) -> None:
    user.refresh_token = (await user.code_flow())["refresh_token"]


async def refresh_once(user: User) -> int:
    form = {"grant_type": "refresh_token", "refresh_token": user.refresh_token}
    user.refresh_token = (await user.token(form, user.seed["web"]))["refresh_token"]
    return 1


async def machine_once(user: User) -> int:
    await user.token({"grant_type": "client_credentials"}, user.seed["machine"])
    return 1


async def page_setup(user: User) -> None:
    await user.load_form("/accounts/login/")
    await user.sign_in()


async def page_once(user: User) -> int:
    expect(await user.http.get("/accounts/"), 200)
    return 1


async def passkey_once(user: User) -> int:
    user.forget_session()
    headers = {**user.posting, "X-CSRFToken": user.csrf, "Content-Type": "application/json"}
    options = expect(await user.http.post("/accounts/passkeys/signin/options/", content=b"{}", headers=headers), 200)
    body = json.dumps({"credential": user.authenticator.get(options.json())})
    expect(await user.http.post("/accounts/passkeys/signin/", content=body, headers=headers), 200)
    return 2


async def signup_setup(user: User) -> None:
    await user.load_form("/accounts/signup/")


async def signup_once(user: User) -> int:
    user.forget_session()
    user.signups += 1
    address = f"new-{user.seed['run']}-{user.number}-{user.signups}@example.com"
    form = {"csrfmiddlewaretoken": user.csrf, "email": address, "password": accounts.PASSWORD}
    expect(await user.http.post("/accounts/signup/", data=form, headers=user.posting), 302)
    return 1


async def bare_once(user: User) -> int:
    expect(await user.http.get("/"), 200)
    return 1


async def allauth_page_setup(user: User) -> None:
    """Sign in once through the stock allauth site's own form (by username, allauth's default)."""
    await user.load_form("/accounts/login/")
    form = {"csrfmiddlewaretoken": user.csrf, "login": accounts.username(user.number), "password": accounts.PASSWORD}
    target = location(expect(await user.http.post("/accounts/login/", data=form, headers=user.posting), 302))
    if target != "/":
        raise Failed(f"allauth's sign-in led to {target}")


async def allauth_page_once(user: User) -> int:
    expect(await user.http.get("/"), 200)
    return 1


SCENARIOS = {
    "signin": (signin_setup, signin_once),
    "codeflow": (None, codeflow_once),
    "refresh": (refresh_setup, refresh_once),
    "client_credentials": (None, machine_once),
    "signed_in_page": (page_setup, page_once),
    "passkey": (signin_setup, passkey_once),
    "signup": (signup_setup, signup_once),
    "bare_django": (None, bare_once),
    "allauth_signed_in_page": (allauth_page_setup, allauth_page_once),
}


def percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


async def main(args) -> dict:
    seed = json.loads(open(args.seed).read()) if args.seed else {}
    seed["run"] = args.run
    setup, once = SCENARIOS[args.scenario]
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    verify = client_context(args.ca) if args.ca else True  # one context for all: loading it is not cheap
    clients = [
        httpx.AsyncClient(base_url=args.base, limits=limits, timeout=30, verify=verify) for _ in range(args.users)
    ]
    first = seed.get("people", 0) if args.scenario == "passkey" else 0  # passkey holders come after the others
    # The app's own connection per user: its token requests carry no browser cookies (no session to read).
    apps = [httpx.AsyncClient(base_url=args.base, limits=limits, timeout=30, verify=verify) for _ in range(args.users)]
    users = [
        User(client, app, first + number, seed, args.origin)
        for number, (client, app) in enumerate(zip(clients, apps, strict=True))
    ]
    if setup:
        await asyncio.gather(*(setup(user) for user in users))

    latencies: list[float] = []
    errors: dict[str, int] = {}
    requests = 0
    deadline = time.monotonic() + args.warmup

    async def run(user: User) -> None:
        nonlocal requests
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                requests += await once(user)
                latencies.append(time.perf_counter() - started)
            except (Failed, httpx.HTTPError, KeyError, AttributeError) as error:
                kind = f"{type(error).__name__}: {error}"[:160]
                errors[kind] = errors.get(kind, 0) + 1
                if setup and args.scenario != "refresh":
                    await setup(user)

    # Warm-up, not measured: every worker imports what it imports lazily and fills its caches first. The
    # runner answers WARM for another round while some web worker has not opened its Redis connection yet
    # (a cold worker's first request would charge that to the few operations of a short window), GO to start.
    while True:
        await asyncio.gather(*(run(user) for user in users))
        if errors:
            raise SystemExit(f"the {args.scenario} warm-up failed: {errors}")
        print("READY", flush=True)
        if (await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)).strip() != "WARM":
            break
        deadline = time.monotonic() + args.warmup
    latencies.clear()
    requests = 0

    deadline = time.monotonic() + args.seconds
    began = time.monotonic()
    await asyncio.gather(*(run(user) for user in users))
    elapsed = time.monotonic() - began
    print("END", flush=True)
    for client in clients + apps:
        await client.aclose()
    latencies.sort()
    return {
        "scenario": args.scenario,
        "users": args.users,
        "seconds": elapsed,
        "operations": len(latencies),
        "requests": requests,
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "throughput": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p95_ms": percentile(latencies, 0.95) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="where to send requests")
    parser.add_argument("--origin", default="", help="the site's public origin (passkey client data, POSTs' Origin)")
    parser.add_argument("--ca", default="", help="over https: the certificate to trust (the bench's self-signed one)")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), required=True)
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=3, help="seconds of load before the measured window")
    parser.add_argument("--seed", default="")
    parser.add_argument("--run", default=secrets.token_hex(4), help="makes sign-up addresses unique per run")
    print(json.dumps(asyncio.run(main(parser.parse_args()))), flush=True)
