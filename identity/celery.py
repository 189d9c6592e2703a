"""The Celery app: mail and other background work. Tasks live in each app's tasks.py."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "identity.settings")

app = Celery("identity")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


from .metrics import connect_celery_signals  # noqa: E402

connect_celery_signals()
