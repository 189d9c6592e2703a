"""The Celery app: mail and other background work. Tasks live in each app's tasks.py."""

import os

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "identity.settings")

app = Celery("identity")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


from .metrics import connect_celery_signals  # noqa: E402

connect_celery_signals()


@worker_init.connect
def refuse_to_start_misconfigured_worker(**kwargs) -> None:
    """A worker, like a web process (identity/wsgi.py), does not start when a setting fails its startup
    check, as it did not when such settings failed at import. SystemExit, because Celery logs and
    ignores an ordinary exception from a signal handler."""
    # Imported when a worker starts: this module is imported while Django loads, before the apps are.
    import django
    from django.core.exceptions import ImproperlyConfigured

    from .health import refuse_to_start_misconfigured  # health reads the settings: only after django.setup() too

    django.setup()
    try:
        refuse_to_start_misconfigured(deployment=False)
    except ImproperlyConfigured as misconfigured:
        raise SystemExit(f"Identity's worker will not start: {misconfigured}") from misconfigured
