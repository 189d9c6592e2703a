import uuid

from django.db import migrations, models


def give_subjects(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    for user in User.objects.filter(subject__isnull=True).only("pk"):
        User.objects.filter(pk=user.pk).update(subject=uuid.uuid4())


class Migration(migrations.Migration):
    dependencies = [("accounts", "0007_outbox_last_attempt")]

    operations = [
        migrations.AddField(
            model_name="user", name="subject", field=models.UUIDField(editable=False, null=True, verbose_name="subject")
        ),
        migrations.RunPython(give_subjects, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="user",
            name="subject",
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True, verbose_name="subject"),
        ),
    ]
