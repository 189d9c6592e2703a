"""Relying apps registered through the admin and from the command line.

A secret is shown exactly once (on the page right after it is made, or on the command's output), is
stored only as a keyed hash, works at the token endpoint, and never reaches the admin history or the
logs. Every secret is proved against the real token endpoint.
"""

from __future__ import annotations

import base64
import html as html_lib
import io
import json
import logging
import re

import pytest
from django.contrib.admin.models import LogEntry
from django.core.management import CommandError, call_command
from django.test import Client as Browser

from oidc.models import Client
from tests.directory.directory import NO_ROLES_OR_ASSIGNMENTS
from tests.users import add_totp, sign_in_admin

from .relying_party import REDIRECT_URI, RelyingParty

pytestmark = pytest.mark.django_db

ADD = "/admin/oidc/client/add/"
CHANGELIST = "/admin/oidc/client/"


def form_data(**overrides) -> dict:
    data = {
        "name": "Wiki",
        "client_type": Client.CLIENT_CONFIDENTIAL,
        "authorization_grant_type": Client.GRANT_AUTHORIZATION_CODE,
        "redirect_uris": REDIRECT_URI,
        "post_logout_redirect_uris": "",
        "backchannel_logout_uri": "",
        "allowed_scopes": "openid email profile offline_access",
        "algorithm": "ES256",  # the page's preselected default
        "_save": "Save",
        **NO_ROLES_OR_ASSIGNMENTS,
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def shown_credentials(page: str) -> list[tuple[str, str | None]]:
    """(client id, secret or None) for each app on the "Client credentials" page, in order."""
    shown = []
    for block in re.split(r"<h2>", page)[1:]:
        found = re.search(r"Client ID: <code>([^<]+)</code>", block)
        if found is None:
            continue
        client_id = found.group(1)
        secret = re.search(r"Client secret: <code>([^<]+)</code>", block)
        shown.append((html_lib.unescape(client_id), html_lib.unescape(secret.group(1)) if secret else None))
    return shown


def client_credentials(client_id: str, secret: str):
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return Browser().post("/oauth/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {basic}")


def code_flow_works(client: Client, secret: str, browser: Browser) -> bool:
    rp = RelyingParty(client, secret)
    request = rp.authorization()
    response = browser.get(request["url"])
    if response.status_code == 200:
        response = browser.post(request["url"], {"decision": "allow"})
    code = rp.callback(response)["code"]
    return rp.redeem(code, request["verifier"]).status_code == 200


def everything_logged(caplog) -> str:
    """Every captured record, message and arguments and traceback, as one text."""
    parts = []
    for record in caplog.records:
        parts.append(record.getMessage())
        parts.append(repr(record.args))
        parts.append(repr(record.__dict__))
        if record.exc_text:
            parts.append(record.exc_text)
    return "\n".join(parts)


@pytest.fixture
def admin_browser(make_admin) -> Browser:
    return sign_in_admin(make_admin())


# --- the admin ------------------------------------------------------------------------------------


class TestAdminAdd:
    def test_add_shows_id_and_secret_once_and_stores_only_a_keyed_hash(self, admin_browser, caplog):
        caplog.set_level(logging.DEBUG)
        assert admin_browser.get(ADD).status_code == 200

        response = admin_browser.post(ADD, form_data())

        assert response.status_code == 200
        assert "no-store" in response["Cache-Control"]
        [(client_id, secret)] = shown_credentials(response.content.decode())
        client = Client.objects.get(name="Wiki")
        assert client.client_id == client_id
        assert secret and len(secret) >= 43
        assert client.client_secret.startswith("client-secret-hmac$")
        assert secret not in client.client_secret
        # Never shown again: neither on the change page nor in the list.
        for page in (admin_browser.get(f"{CHANGELIST}{client.pk}/change/"), admin_browser.get(CHANGELIST)):
            assert page.status_code == 200
            assert secret not in page.content.decode()
            assert client.client_secret not in page.content.decode()
        # Neither in the admin history nor in any log record.
        [entry] = LogEntry.objects.filter(object_id=str(client.pk))
        assert secret not in entry.change_message and secret not in entry.object_repr
        assert caplog.records, "the capture must see the site's log records"
        assert secret not in everything_logged(caplog)

    def test_the_shown_secret_works_in_a_code_flow(self, admin_browser, signed_in_client, caplog):
        caplog.set_level(logging.DEBUG)
        [(client_id, secret)] = shown_credentials(admin_browser.post(ADD, form_data()).content.decode())
        client = Client.objects.get(client_id=client_id)
        assert code_flow_works(client, secret, signed_in_client)
        assert not code_flow_works(client, secret + "x", signed_in_client)
        assert secret not in everything_logged(caplog)

    def test_a_machine_client_gets_tokens_with_the_shown_secret(self, admin_browser, caplog):
        caplog.set_level(logging.DEBUG)
        response = admin_browser.post(
            ADD, form_data(name="Batch", authorization_grant_type=Client.GRANT_CLIENT_CREDENTIALS, redirect_uris="")
        )
        [(client_id, secret)] = shown_credentials(response.content.decode())
        token = client_credentials(client_id, secret)
        assert token.status_code == 200, token.content
        assert token.json()["access_token"]
        assert client_credentials(client_id, "wrong-" + secret).status_code == 401
        assert secret not in everything_logged(caplog)
        assert secret not in LogEntry.objects.get(object_repr="Batch").change_message

    def test_a_public_app_is_shown_without_a_secret(self, admin_browser):
        response = admin_browser.post(ADD, form_data(name="SPA", client_type=Client.CLIENT_PUBLIC))
        assert response.status_code == 200
        [(client_id, secret)] = shown_credentials(response.content.decode())
        assert secret is None
        assert "proves itself with PKCE" in response.content.decode()
        assert Client.objects.get(client_id=client_id).client_type == Client.CLIENT_PUBLIC

    def test_editing_an_app_keeps_its_secret_working(self, admin_browser):
        response = admin_browser.post(
            ADD, form_data(name="Batch", authorization_grant_type=Client.GRANT_CLIENT_CREDENTIALS, redirect_uris="")
        )
        [(client_id, secret)] = shown_credentials(response.content.decode())
        client = Client.objects.get(client_id=client_id)
        hashed = client.client_secret
        change = admin_browser.post(
            f"{CHANGELIST}{client.pk}/change/",
            form_data(name="Batch renamed", authorization_grant_type=Client.GRANT_CLIENT_CREDENTIALS, redirect_uris=""),
        )
        assert change.status_code == 302, change.content.decode()[-2000:]
        client.refresh_from_db()
        assert client.name == "Batch renamed" and client.client_secret == hashed
        assert client_credentials(client_id, secret).status_code == 200

    def test_a_public_app_made_confidential_does_not_accept_an_empty_secret(self, admin_browser):
        admin_browser.post(ADD, form_data(name="SPA", client_type=Client.CLIENT_PUBLIC))
        spa = Client.objects.get(name="SPA")
        change = admin_browser.post(
            f"{CHANGELIST}{spa.pk}/change/",
            form_data(name="SPA", authorization_grant_type=Client.GRANT_CLIENT_CREDENTIALS, redirect_uris=""),
        )
        assert change.status_code == 302
        spa.refresh_from_db()
        assert spa.client_type == Client.CLIENT_CONFIDENTIAL
        # It never had a secret: an empty one (what a public app "has") must not authenticate it.
        assert client_credentials(spa.client_id, "").status_code == 401
        body = Browser().post(
            "/oauth/token/", {"grant_type": "client_credentials", "client_id": spa.client_id, "client_secret": ""}
        )
        assert body.status_code == 401

    @pytest.mark.parametrize(
        ("overrides", "field", "message"),
        [
            ({"redirect_uris": "http://rp.example/callback"}, "redirect_uris", "must use https"),
            ({"redirect_uris": "https://rp.example/cb http://10.0.0.5/cb"}, "redirect_uris", "must use https"),
            ({"post_logout_redirect_uris": "http://rp.example/bye"}, "post_logout_redirect_uris", "must use https"),
            ({"backchannel_logout_uri": "http://rp.example/logout"}, "backchannel_logout_uri", "must use https"),
            ({"redirect_uris": "https://rp.example/cb#frag"}, "redirect_uris", "fragment"),
            ({"authorization_grant_type": "implicit"}, "authorization_grant_type", "Select a valid choice"),
            ({"authorization_grant_type": "openid-hybrid"}, "authorization_grant_type", "Select a valid choice"),
            ({"authorization_grant_type": "password"}, "authorization_grant_type", "Select a valid choice"),
            (
                {
                    "client_type": Client.CLIENT_PUBLIC,
                    "authorization_grant_type": Client.GRANT_CLIENT_CREDENTIALS,
                    "redirect_uris": "",
                },
                "client_type",
                "Client credentials need a confidential client",
            ),
            ({"allowed_scopes": "openid admin"}, "allowed_scopes", "Unknown scopes: admin"),
            ({"redirect_uris": ""}, "redirect_uris", "cannot be empty"),
        ],
    )
    def test_the_add_form_refuses_what_is_not_offered_with_a_clear_error(
        self, admin_browser, overrides, field, message
    ):
        response = admin_browser.post(ADD, form_data(**overrides))
        assert response.status_code == 200
        page = html_lib.unescape(response.content.decode())
        assert "Client credentials" not in page.split("<main", 1)[-1].split("<h1>", 1)[-1][:40]
        assert 'class="errornote"' in page
        field_errors = response.context["adminform"].form.errors
        assert field in field_errors, dict(field_errors)
        assert any(message in error for error in field_errors[field]), field_errors[field]
        assert message in page
        assert not Client.objects.exists()

    def test_http_on_loopback_is_accepted(self, admin_browser):
        response = admin_browser.post(
            ADD,
            form_data(
                redirect_uris="http://127.0.0.1:8765/callback http://localhost/cb http://[::1]:9000/cb",
                backchannel_logout_uri="http://127.0.0.1:8765/logout",
            ),
        )
        assert response.status_code == 200
        assert shown_credentials(response.content.decode())
        assert Client.objects.get().backchannel_logout_uri == "http://127.0.0.1:8765/logout"

    def test_people_without_the_permission_cannot_add(self, signed_in_client, make_user):
        response = signed_in_client.get(ADD)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
        assert signed_in_client.post(ADD, form_data()).status_code == 302
        staff = make_user("staff@example.com", is_staff=True)
        add_totp(staff)
        staff_browser = sign_in_admin(staff)
        assert staff_browser.get(ADD).status_code == 403
        assert staff_browser.post(ADD, form_data()).status_code == 403
        assert not Client.objects.exists()

    def test_concurrent_adds_each_show_their_own_secret(self, admin_browser, make_admin, monkeypatch):
        from oidc.admin import ClientAdmin

        other_admin = sign_in_admin(make_admin("ops@example.com"))
        original = ClientAdmin.response_add
        interleaved = []

        def response_add(self, request, obj, post_url_continue=None):
            # Another admin's add is handled (by another worker thread) between this request's save and
            # its response: the shared ModelAdmin instance sees both.
            if not interleaved:
                interleaved.append(
                    other_admin.post(
                        ADD,
                        form_data(
                            name="Other", authorization_grant_type=Client.GRANT_CLIENT_CREDENTIALS, redirect_uris=""
                        ),
                    )
                )
            return original(self, request, obj, post_url_continue)

        monkeypatch.setattr(ClientAdmin, "response_add", response_add)
        response = admin_browser.post(
            ADD, form_data(name="Mine", authorization_grant_type=Client.GRANT_CLIENT_CREDENTIALS, redirect_uris="")
        )
        [(client_id, secret)] = shown_credentials(response.content.decode())
        assert client_id == Client.objects.get(name="Mine").client_id
        assert client_credentials(client_id, secret).status_code == 200


class TestNewSecretAction:
    def add_machine(self, admin_browser, name="Batch") -> tuple[Client, str | None]:
        response = admin_browser.post(
            ADD, form_data(name=name, authorization_grant_type=Client.GRANT_CLIENT_CREDENTIALS, redirect_uris="")
        )
        [(client_id, secret)] = shown_credentials(response.content.decode())
        return Client.objects.get(client_id=client_id), secret

    def test_new_secret_is_shown_once_and_the_old_one_stops_working(self, admin_browser, caplog):
        caplog.set_level(logging.DEBUG)
        client, old = self.add_machine(admin_browser)
        assert client_credentials(client.client_id, old).status_code == 200

        response = admin_browser.post(CHANGELIST, {"action": "new_secret", "_selected_action": [client.pk]})

        assert response.status_code == 200
        assert "no-store" in response["Cache-Control"]
        [(client_id, new)] = shown_credentials(response.content.decode())
        assert client_id == client.client_id and new and new != old
        client.refresh_from_db()
        assert client.client_secret.startswith("client-secret-hmac$") and new not in client.client_secret
        assert client_credentials(client.client_id, old).status_code == 401
        assert client_credentials(client.client_id, new).status_code == 200
        assert new not in everything_logged(caplog) and old not in everything_logged(caplog)
        assert not any(new in entry.change_message for entry in LogEntry.objects.all())

    def test_only_confidential_apps_get_secrets(self, admin_browser):
        admin_browser.post(ADD, form_data(name="SPA", client_type=Client.CLIENT_PUBLIC))
        spa = Client.objects.get(name="SPA")
        machine, secret = self.add_machine(admin_browser)
        response = admin_browser.post(CHANGELIST, {"action": "new_secret", "_selected_action": [spa.pk, machine.pk]})
        shown = shown_credentials(response.content.decode())
        assert [client_id for client_id, _ in shown] == [machine.client_id]
        spa_before = spa.client_secret
        spa.refresh_from_db()
        assert spa.client_secret == spa_before
        assert client_credentials(machine.client_id, secret).status_code == 401

    def test_a_public_app_alone_changes_nothing(self, admin_browser):
        admin_browser.post(ADD, form_data(name="SPA", client_type=Client.CLIENT_PUBLIC))
        spa = Client.objects.get(name="SPA")
        before = spa.client_secret
        response = admin_browser.post(CHANGELIST, {"action": "new_secret", "_selected_action": [spa.pk]})
        assert "nothing was changed" in response.content.decode()
        spa.refresh_from_db()
        assert spa.client_secret == before


# --- register_client ------------------------------------------------------------------------------


def register_client(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("register_client", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def parse_plain(output: str) -> dict:
    return dict(re.findall(r"^(client_id|client_secret): (\S+)$", output, flags=re.M))


class TestRegisterClient:
    def test_prints_id_and_secret_that_work_in_a_code_flow(self, signed_in_client, caplog):
        caplog.set_level(logging.DEBUG)
        out, err = register_client("--name", "Wiki", "--redirect-uri", REDIRECT_URI)
        printed = parse_plain(out)
        assert set(printed) == {"client_id", "client_secret"}
        assert "stored hashed" in err
        client = Client.objects.get(client_id=printed["client_id"])
        assert client.name == "Wiki"
        assert client.client_type == Client.CLIENT_CONFIDENTIAL
        assert client.authorization_grant_type == Client.GRANT_AUTHORIZATION_CODE
        assert client.client_secret.startswith("client-secret-hmac$")
        assert printed["client_secret"] not in client.client_secret
        assert code_flow_works(client, printed["client_secret"], signed_in_client)
        assert printed["client_secret"] not in everything_logged(caplog)

    def test_every_option_is_stored(self):
        out, _ = register_client(
            "--name",
            "Wiki",
            "--redirect-uri",
            REDIRECT_URI,
            "--redirect-uri",
            "http://127.0.0.1:8000/cb",
            "--post-logout-uri",
            "https://rp.example/bye",
            "--backchannel-logout-uri",
            "https://rp.example/bc",
            "--scopes",
            "openid email",
            "--skip-consent",
        )
        client = Client.objects.get(client_id=parse_plain(out)["client_id"])
        assert client.redirect_uris.split() == [REDIRECT_URI, "http://127.0.0.1:8000/cb"]
        assert client.post_logout_redirect_uris == "https://rp.example/bye"
        assert client.backchannel_logout_uri == "https://rp.example/bc"
        assert client.allowed_scopes == "openid email"
        assert client.skip_authorization is True

    def test_json_output(self, signed_in_client):
        out, _ = register_client("--name", "Wiki", "--redirect-uri", REDIRECT_URI, "--json")
        printed = json.loads(out)
        assert set(printed) == {"client_id", "client_secret"}
        client = Client.objects.get(client_id=printed["client_id"])
        assert code_flow_works(client, printed["client_secret"], signed_in_client)

    def test_public_client_has_no_secret_and_uses_pkce(self, signed_in_client):
        out, err = register_client("--name", "SPA", "--redirect-uri", REDIRECT_URI, "--public", "--json")
        printed = json.loads(out)
        assert printed["client_secret"] is None
        client = Client.objects.get(client_id=printed["client_id"])
        assert client.client_type == Client.CLIENT_PUBLIC
        rp = RelyingParty(client, None)
        request = rp.authorization()
        response = signed_in_client.get(request["url"])
        if response.status_code == 200:
            response = signed_in_client.post(request["url"], {"decision": "allow"})
        assert rp.redeem(rp.callback(response)["code"], request["verifier"]).status_code == 200
        plain, _ = register_client("--name", "SPA2", "--redirect-uri", REDIRECT_URI, "--public")
        assert set(parse_plain(plain)) == {"client_id"}

    def test_machine_client_gets_tokens_with_client_credentials(self):
        out, _ = register_client("--name", "Batch", "--machine", "--json")
        printed = json.loads(out)
        client = Client.objects.get(client_id=printed["client_id"])
        assert client.authorization_grant_type == Client.GRANT_CLIENT_CREDENTIALS
        token = client_credentials(printed["client_id"], printed["client_secret"])
        assert token.status_code == 200, token.content
        assert client_credentials(printed["client_id"], printed["client_secret"][:-1]).status_code == 401

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--redirect-uri", "http://rp.example/cb"], "redirect_uris: http://rp.example/cb must use https"),
            (["--redirect-uri", "ftp://rp.example/cb"], "redirect_uris"),
            (["--redirect-uri", "https://rp.example/cb#x"], "must not contain a fragment"),
            (
                ["--redirect-uri", REDIRECT_URI, "--backchannel-logout-uri", "http://rp.example/bc"],
                "backchannel_logout_uri: http://rp.example/bc must use https",
            ),
            (
                ["--redirect-uri", REDIRECT_URI, "--post-logout-uri", "http://rp.example/bye"],
                "post_logout_redirect_uris",
            ),
            (["--redirect-uri", REDIRECT_URI, "--scopes", "openid root"], "Unknown scopes: root"),
            ([], "redirect_uris"),
        ],
    )
    def test_bad_input_is_a_command_error_naming_the_problem(self, args, message):
        with pytest.raises(CommandError) as raised:
            register_client("--name", "Bad", *args)
        assert message in str(raised.value)
        assert not Client.objects.exists()

    def test_public_and_machine_together_are_refused(self):
        with pytest.raises(CommandError, match="not allowed with"):
            register_client("--name", "Both", "--public", "--machine")
        assert not Client.objects.exists()

    def test_name_is_required(self):
        with pytest.raises(CommandError, match="--name"):
            register_client("--redirect-uri", REDIRECT_URI)


class TestAdminPermissions:
    @pytest.fixture
    def viewer(self, make_user) -> Browser:
        """Staff allowed only to look at relying apps."""
        from django.contrib.auth.models import Permission

        staff = make_user("viewer@example.com", is_staff=True)
        staff.user_permissions.add(Permission.objects.get(codename="view_client", content_type__app_label="oidc"))
        add_totp(staff)
        return sign_in_admin(staff)

    def test_view_only_staff_sees_the_list_but_cannot_add(self, viewer, admin_browser):
        response = admin_browser.post(
            ADD, form_data(name="Batch", authorization_grant_type=Client.GRANT_CLIENT_CREDENTIALS, redirect_uris="")
        )
        [(client_id, _)] = shown_credentials(response.content.decode())
        listing = viewer.get(CHANGELIST)
        assert listing.status_code == 200 and client_id in listing.content.decode()
        assert viewer.get(ADD).status_code == 403

    def test_view_only_staff_cannot_make_a_new_secret(self, viewer, admin_browser):
        response = admin_browser.post(
            ADD, form_data(name="Batch", authorization_grant_type=Client.GRANT_CLIENT_CREDENTIALS, redirect_uris="")
        )
        [(client_id, secret)] = shown_credentials(response.content.decode())
        client = Client.objects.get(client_id=client_id)
        hashed = client.client_secret

        response = viewer.post(CHANGELIST, {"action": "new_secret", "_selected_action": [client.pk]})

        assert shown_credentials(response.content.decode()) == []
        client.refresh_from_db()
        assert client.client_secret == hashed
        assert client_credentials(client_id, secret).status_code == 200
