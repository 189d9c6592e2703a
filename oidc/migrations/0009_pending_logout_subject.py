"""A waiting back-channel logout names the person by subject instead of by row, so the logout of an
account being deleted outlives the account (rows waiting from before are copied over)."""

from django.db import migrations, models


def copy_subjects(apps, schema_editor):
    PendingLogout = apps.get_model("oidc", "PendingLogout")
    for pending in PendingLogout.objects.select_related("user"):
        pending.subject = pending.user.subject
        pending.save(update_fields=["subject"])


class Migration(migrations.Migration):
    dependencies = [("oidc", "0008_retire_served_scopes")]

    operations = [
        migrations.AddField(model_name="pendinglogout", name="subject", field=models.UUIDField(null=True)),
        migrations.RunPython(copy_subjects, migrations.RunPython.noop),
        migrations.RemoveField(model_name="pendinglogout", name="user"),
        migrations.AlterField(model_name="pendinglogout", name="subject", field=models.UUIDField()),
    ]
