"""Reading the environment, for the settings and for each app's own settings (`AppSettings`).

Every variable goes through `env`, django-environ's reader made strict where its defaults would hide
a mistake or change a value:
- a value that is not of its variable's type (SESSION_IDLE_TIMEOUT=abc) stops the start with an
  ImproperlyConfigured that names the variable; django-environ's own ValueError does not;
- a switch is 1/true/yes/on or 0/false/no/off: DJANGO_DEBUG=maybe is an error, not silently "off";
- a value is taken as it is: django-environ would read one starting with "$" as the name of another
  variable (its "proxied values"), so a generated secret key or password starting with "$" would
  break, and 0.14 has no switch for it;
- blanks around a value (and around each item of a list) are dropped, and an empty number or switch
  means its default, as before.
"""

from __future__ import annotations

import json
from typing import Any

import environ
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

_ON = frozenset({"1", "true", "yes", "on"})
_OFF = frozenset({"0", "false", "no", "off"})


def _switch(value: str) -> bool:
    if value.lower() in _ON:
        return True
    if value.lower() in _OFF:
        return False
    raise ValueError(value)


# What a cast expects, for the message: the value itself is shown only for these short, non-secret
# types (a JSON value may be long; strings, which may be secrets, are never cast).
_EXPECTED = {int: "a whole number", float: "a number", bool: "on or off (1, true, yes, on / 0, false, no, off)"}


class Env(environ.Env):
    def get_value(
        self, var: str, cast: Any = None, default: Any = environ.Env.NOTSET, parse_default: bool = False
    ) -> Any:
        raw = self.ENVIRON.get(var)
        value = None if raw is None else raw.strip()
        if value is None or (value == "" and cast not in (None, str, list)):
            if default is self.NOTSET:
                raise ImproperlyConfigured(f"Set the {var} environment variable.")
            return default
        try:
            return self.parse_value(value, cast)
        except ValueError as error:
            if cast is json.loads:
                raise ImproperlyConfigured(f"{var} must be JSON: {error}.") from None
            raise ImproperlyConfigured(f"{var} must be {_EXPECTED.get(cast, cast)}, not {value!r}.") from None

    @classmethod
    def parse_value(cls, value: str, cast: Any) -> Any:
        if cast is bool:
            return _switch(value)
        if cast is float:
            return float(value)  # django-environ's own drops every other character: "1.5s" would be 1.5
        if cast is list:
            return [item.strip() for item in value.split(",") if item.strip()]
        return super().parse_value(value, cast)


env = Env()


class AppSettings:
    """An app's own settings (the ones no other app reads), allauth-style: a subclass in the app's
    app_settings.py declares each with its default, read from the environment variable of the same
    name when the app loads, and the app reads it as `app_settings.NAME`. A Django setting of that
    name wins when there is one (a deployment's own settings module, or a test's `settings` fixture
    and override_settings), so identity/settings.py holds only what the whole project, Django and its
    libraries read, and imports no app."""

    def __getattribute__(self, name: str) -> Any:
        value = object.__getattribute__(self, name)
        return getattr(settings, name, value) if name.isupper() else value
