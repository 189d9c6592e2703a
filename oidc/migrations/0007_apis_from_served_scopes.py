"""Resource servers and API scopes as they were (Client.is_resource_server and served_scopes, the
OIDC_API_SCOPES setting) become APIs, so an existing resource server keeps introspecting the same tokens.

Each resource server gets an API named after it (identifier urn:identity:api:<client id>, which an
admin may change) with the scopes it served; a scope served by two resource servers goes to the first
(by id), the other is told in the migration's output. API scopes (every allowed scope not OpenID
Connect's was one of OIDC_API_SCOPES) that no resource server served go to one API, "API scopes from OIDC_API_SCOPES". Every app's allowed
API scopes become granted API scopes. Descriptions come from OIDC_API_SCOPES (read from the
environment here, the one place it is still read), else the scope's name.
"""

import json
import os

from django.db import migrations

# OpenID Connect's own scopes when this ran (settings.OIDC_SCOPES, frozen here): the directory's `roles` too.
OIDC_OWN = {"openid", "email", "profile", "offline_access", "roles"}


def configured_descriptions() -> dict:
    try:
        scopes = json.loads(os.environ.get("OIDC_API_SCOPES") or "{}")
    except ValueError:
        return {}
    return {name: text for name, text in scopes.items() if isinstance(text, str)} if isinstance(scopes, dict) else {}


def apis_from_served_scopes(apps, schema_editor):
    Client = apps.get_model("oidc", "Client")
    Api = apps.get_model("oidc", "Api")
    ApiScope = apps.get_model("oidc", "ApiScope")
    descriptions = configured_descriptions()
    scopes = {}

    def add_scope(api, value):
        # OIDC_API_SCOPES never limited its sentences; the column holds 255 characters.
        description = (descriptions.get(value) or value)[:255]
        scopes[value] = ApiScope.objects.create(api=api, value=value, description=description)

    for server in Client.objects.filter(is_resource_server=True).order_by("pk"):
        api = Api.objects.create(
            name=(server.name or server.client_id)[:100],
            identifier=f"urn:identity:api:{server.client_id}",
            resource_server=server,
        )
        for value in server.served_scopes.split():
            if value in OIDC_OWN:
                continue
            if value in scopes:
                print(f"\n  oidc 0007: {value} is served by {scopes[value].api.name}; {api.name} no longer serves it.")
                continue
            add_scope(api, value)

    leftover = None
    for client in Client.objects.all():
        allowed = client.allowed_scopes.split()
        api_scopes = [value for value in allowed if value not in OIDC_OWN]  # the others were OIDC_API_SCOPES'
        for value in api_scopes:
            if value not in scopes:
                if leftover is None:
                    leftover = Api.objects.create(
                        name="API scopes from OIDC_API_SCOPES", identifier="urn:identity:api:oidc-api-scopes"
                    )
                add_scope(leftover, value)
            client.granted_scopes.add(scopes[value])
        if api_scopes:
            client.allowed_scopes = " ".join(value for value in allowed if value not in api_scopes)
            client.save(update_fields=["allowed_scopes"])


class Migration(migrations.Migration):

    dependencies = [
        ('oidc', '0006_apis_and_scopes'),
    ]

    operations = [
        migrations.RunPython(apis_from_served_scopes, migrations.RunPython.noop),
    ]
