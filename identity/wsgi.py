import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "identity.settings")

application = get_wsgi_application()

from identity.health import refuse_to_start_misconfigured  # noqa: E402  (needs the apps loaded)

refuse_to_start_misconfigured()
