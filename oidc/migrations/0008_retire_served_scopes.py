# Once 0007 moved them onto APIs: a resource server is the one an API names, its scopes are the API's.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('oidc', '0007_apis_from_served_scopes'),
    ]

    operations = [
        migrations.RemoveField(
            model_name='client',
            name='is_resource_server',
        ),
        migrations.RemoveField(
            model_name='client',
            name='served_scopes',
        ),
    ]
