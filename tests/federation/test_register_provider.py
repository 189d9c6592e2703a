"""manage.py register_provider: adds or updates a provider with its kind's defaults and rules; the client
secret only from the environment or standard input; bad input is a clear error and a non-zero exit."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from federation.models import Provider

from .entra import OTHER_TENANT, TENANT

pytestmark = pytest.mark.django_db

SECRET = "client-secret-from-the-console-0123456789"


def register(*args: str, stdin: str | None = None) -> str:
    out = io.StringIO()
    extra = {"stdin": io.StringIO(stdin)} if stdin is not None else {}
    call_command("register_provider", *args, stdout=out, **extra)
    return out.getvalue()


@pytest.fixture
def secret_env(monkeypatch):
    monkeypatch.setenv("GOOGLE_SECRET", SECRET)
    return "GOOGLE_SECRET"


def test_google_is_added_with_its_defaults_and_the_secret_from_the_environment(secret_env):
    out = register(
        "--kind", "google", "--slug", "google", "--client-id", "123.apps.googleusercontent.com",
        "--client-secret-env", secret_env, "--may-create-accounts", "--allowed-domains", "example.org",
    )  # fmt: skip

    provider = Provider.objects.get()
    assert (provider.kind, provider.name, provider.issuer, provider.scopes) == (
        "google",
        "Google",
        "https://accounts.google.com",
        "openid email profile",
    )
    assert provider.client_secret == SECRET and SECRET not in provider.client_secret_sealed
    assert provider.may_create_accounts and provider.allowed_email_domains == "example.org" and provider.enabled
    assert "http://testserver/accounts/federation/google/callback/" in out and SECRET not in out


def test_the_secret_may_come_from_standard_input():
    register(
        "--kind", "github", "--slug", "github", "--client-id", "Iv1.x", "--client-secret-stdin", stdin=SECRET + "\n"
    )

    provider = Provider.objects.get()
    assert provider.client_secret == SECRET and provider.scopes == "read:user user:email"
    assert provider.issuer == "https://github.com"


def test_a_secret_on_the_command_line_is_refused():
    with pytest.raises(CommandError, match="never a command-line argument"):
        register("--kind", "google", "--slug", "google", "--client-id", "x", "--client-secret", SECRET)
    assert not Provider.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kind", "google", "--slug", "google", "--client-id", "x"], "needs its client secret"),
        (["--kind", "google", "--slug", "google", "--client-id", "x", "--client-secret-env", "UNSET_VAR"], "not set"),
        (["--kind", "google", "--slug", "google", "--client-id", "x", "--client-secret-stdin"], "standard input"),
        (["--kind", "oidc", "--slug", "acme", "--client-id", "x", "--client-secret-env", "S"], "issuer"),
        (["--kind", "google", "--slug", "g", "--client-secret-env", "S"], "client_id"),
        (["--kind", "entra", "--slug", "ms", "--tenant", "contoso.com", "--client-id", "x", "--client-secret-env", "S"],
         "tenant ID is the directory's GUID"),
        (["--kind", "entra", "--slug", "ms", "--tenant", TENANT, "--allowed-tenants", OTHER_TENANT, "--client-id", "x",
          "--client-secret-env", "S"], "Only for an authority of many tenants"),
        (["--kind", "github", "--slug", "gh", "--allowed-tenants", TENANT, "--client-id", "x",
          "--client-secret-env", "S"], "Only for Microsoft Entra ID"),
        (["--kind", "google", "--slug", "g", "--tenant", TENANT, "--client-id", "x", "--client-secret-env", "S"],
         "--tenant is for Microsoft Entra ID"),
        (["--kind", "oidc", "--slug", "acme", "--issuer", "https://a.example", "--scopes", "email", "--client-id", "x",
          "--client-secret-env", "S"], '"openid"'),
        (["--kind", "oidc", "--slug", "not a slug", "--issuer", "https://a.example", "--client-id", "x",
          "--client-secret-env", "S"], "slug"),
        (["--kind", "github", "--slug", "gh", "--trust-upstream-mfa", "--client-id", "x", "--client-secret-env", "S"],
         "its second factors cannot count"),
        (["--kind", "saml", "--slug", "x"], "invalid choice"),
    ],
    ids=[
        "no-secret", "unset-variable", "empty-stdin", "oidc-without-issuer", "no-client-id", "entra-domain-tenant",
        "tenants-for-one", "tenants-for-github", "tenant-for-google", "no-openid", "bad-slug", "trust-github",
        "unknown-kind",
    ],
)  # fmt: skip
def test_bad_input_is_a_clear_error(monkeypatch, args, message):
    monkeypatch.setenv("S", SECRET)
    with pytest.raises(CommandError, match=message):
        register(*args, stdin="")
    assert not Provider.objects.exists()


def test_an_error_exits_non_zero_from_the_command_line(capsys):
    from django.core.management import ManagementUtility

    with pytest.raises(SystemExit) as exited:
        ManagementUtility(["manage.py", "register_provider", "--slug", "g", "--kind", "google"]).execute()

    assert exited.value.code == 1 and "needs its client secret" in capsys.readouterr().err


def test_entra_for_many_tenants_with_allowed_tenants(secret_env):
    register(
        "--kind", "entra", "--slug", "microsoft", "--tenant", "organizations", "--allowed-tenants",
        f"{TENANT} {OTHER_TENANT}", "--client-id", "x", "--client-secret-env", secret_env,
    )  # fmt: skip

    provider = Provider.objects.get()
    assert provider.issuer == "https://login.microsoftonline.com/organizations/v2.0"
    assert provider.allowed_tenants == f"{TENANT} {OTHER_TENANT}" and provider.name == "Microsoft"


def test_an_update_keeps_the_secret_and_what_it_does_not_name(secret_env):
    register("--kind", "google", "--slug", "google", "--client-id", "x", "--client-secret-env", secret_env)

    out = register("--slug", "google", "--disable", "--name", "Google Workspace")

    provider = Provider.objects.get()
    assert out.startswith("Updated google provider google")
    assert (provider.name, provider.enabled, provider.client_id, provider.client_secret) == (
        "Google Workspace",
        False,
        "x",
        SECRET,
    )
    register("--slug", "google", "--enable")
    assert Provider.objects.get().enabled


def test_an_update_cannot_change_the_kind(secret_env):
    register("--kind", "google", "--slug", "google", "--client-id", "x", "--client-secret-env", secret_env)

    with pytest.raises(CommandError, match="its kind cannot change"):
        register("--slug", "google", "--kind", "oidc")
    assert Provider.objects.get().kind == "google"
