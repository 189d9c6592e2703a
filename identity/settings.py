"""Settings for Identity, read from the environment.

Production hardening is the default; `DJANGO_DEBUG=1` relaxes it explicitly for development.
Every variable read here is documented in README.md with its default.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from identity.net import parse_networks
from identity.ratelimit import Limit
from identity.redis import kombu_sentinel_url, parse_sentinels

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    value = env(name)
    if not value:
        return default
    return value.lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = env(name)
    return int(value) if value else default


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG")


def _secret_key() -> str:
    """Production refuses to start without a key; development keeps a generated one in an ignored file."""
    key = env("DJANGO_SECRET_KEY")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off.")
    key_file = BASE_DIR / ".secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()

SITE_URL = env("SITE_URL", "http://localhost:8000" if DEBUG else "").rstrip("/")
if not SITE_URL:
    raise ImproperlyConfigured(
        "SITE_URL (the public origin, e.g. https://id.example.com) must be set when DJANGO_DEBUG is off."
    )
SITE_NAME = env("SITE_NAME", "Identity")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = [SITE_URL]
# Addresses (or networks, in CIDR notation) of reverse proxies whose X-Forwarded-For we believe.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES")
try:
    parse_networks(TRUSTED_PROXIES)
except ValueError as error:
    raise ImproperlyConfigured(f"TRUSTED_PROXIES: {error}") from None

INSTALLED_APPS = [
    "identity",
    "accounts",
    "mfa",
    "accounts.apps.IdentityAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.humanize",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "oauth2_provider",
    "oidc",
    "csp",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
]

MIDDLEWARE = [
    "identity.health.HealthCheckMiddleware",
    "identity.logging.RequestIdMiddleware",
    "identity.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "identity.middleware.SecurityHeadersMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "identity.logging.UserIdLogMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.middleware.SessionLifetimeMiddleware",
    "accounts.devices.DeviceCookieMiddleware",
    "mfa.middleware.EnrolmentRequiredMiddleware",
    "identity.middleware.RateLimitMiddleware",
    "oidc.csp.AppFormActionMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "identity.urls"
WSGI_APPLICATION = "identity.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "identity.context_processors.site",
            ],
        },
    },
]

if not env("DATABASE_URL"):
    VAR_DIR.mkdir(exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{VAR_DIR / 'identity.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # A hung database must fail fast (503, /readyz) rather than hold a worker until TCP gives up.
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env_int("DATABASE_CONNECT_TIMEOUT", 2)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Accounts and passwords -------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["accounts.backends.EmailBackend"]
LOGIN_URL = "accounts:signin"
LOGIN_REDIRECT_URL = "accounts:home"

# Argon2id at OWASP's recommended floor (19 MiB, 2 passes, 1 lane); hashes made with other
# parameters are re-hashed at the next successful sign-in.
ARGON2_MEMORY_COST_KIB = env_int("ARGON2_MEMORY_COST_KIB", 19456)
ARGON2_TIME_COST = env_int("ARGON2_TIME_COST", 2)
ARGON2_PARALLELISM = env_int("ARGON2_PARALLELISM", 1)
PASSWORD_HASHERS = [
    "accounts.hashers.Argon2idHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "oidc.hashers.ClientSecretHasher",  # relying apps' secrets only (see that module)
]

# NIST SP 800-63B: length, not composition; a long maximum only to bound hashing work.
PASSWORD_MIN_LENGTH = env_int("PASSWORD_MIN_LENGTH", 12)
PASSWORD_MAX_LENGTH = env_int("PASSWORD_MAX_LENGTH", 1024)
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("email", "display_name")},
    },
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": PASSWORD_MIN_LENGTH},
    },
    {
        "NAME": "accounts.validators.MaximumLengthValidator",
        "OPTIONS": {"max_length": PASSWORD_MAX_LENGTH},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},  # the offline floor
    {"NAME": "accounts.validators.BreachedPasswordValidator"},
]
# New passwords are checked against Have I Been Pwned's range API (k-anonymity: a 5-character hash
# prefix is sent). If it does not answer in time, the common-password list above decides (fail-open).
PASSWORD_BREACH_CHECK = env_bool("PASSWORD_BREACH_CHECK", True)
PASSWORD_BREACH_CHECK_URL = env("PASSWORD_BREACH_CHECK_URL", "https://api.pwnedpasswords.com/range/")
PASSWORD_BREACH_CHECK_TIMEOUT = float(env("PASSWORD_BREACH_CHECK_TIMEOUT", "1.5"))

EMAIL_VERIFICATION_TIMEOUT = env_int("EMAIL_VERIFICATION_TIMEOUT", 24 * 3600)
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", 3600)
# A "This wasn't me" link in a mail about a credential event: days, not minutes (people read such mail
# late), and single use.
NOT_ME_LINK_TIMEOUT = env_int("NOT_ME_LINK_TIMEOUT", 7 * 24 * 3600)
# After this many refused second steps (each after a right password) within the period of the
# "warning-mail" rate limit, the owner is told their password is known; one such mail per period.
MFA_FAILURE_MAIL_AFTER = env_int("MFA_FAILURE_MAIL_AFTER", 3)
# Who must use a second factor: "off" (those who chose one), "staff", or "all"; admins can also
# require it per user. People who must and have none enrol right after their password.
MFA_REQUIRED = env("MFA_REQUIRED", "staff").lower()
if MFA_REQUIRED not in {"off", "staff", "all"}:
    raise ImproperlyConfigured("MFA_REQUIRED must be off, staff or all.")
# A password sign-in waiting for its second factor is forgotten after this many seconds.
MFA_PENDING_TIMEOUT = env_int("MFA_PENDING_TIMEOUT", 300)
OTP_TOTP_ISSUER = SITE_NAME

# WebAuthn relying party: from SITE_URL unless set, never from the request's Host header.
WEBAUTHN_RP_ID = env("WEBAUTHN_RP_ID") or (urlsplit(SITE_URL).hostname or "localhost")
WEBAUTHN_RP_NAME = env("WEBAUTHN_RP_NAME", SITE_NAME)
WEBAUTHN_ORIGINS = env_list("WEBAUTHN_ORIGINS") or [SITE_URL]
WEBAUTHN_CHALLENGE_TIMEOUT = env_int("WEBAUTHN_CHALLENGE_TIMEOUT", 120)
OTP_TOTP_THROTTLE_FACTOR = 1  # django-otp's own backoff per device, under the Redis limits below
# django-otp doubles that pause after each failure; capped, so an attacker cannot pause the owner's app for days.
MFA_TOTP_MAX_BACKOFF = env_int("MFA_TOTP_MAX_BACKOFF", 15 * 60)

# Past the password cap, a code mailed to the verified address (with the password) signs in; it lives this long.
SIGNIN_CODE_TIMEOUT = env_int("SIGNIN_CODE_TIMEOUT", 15 * 60)

# Sensitive actions need a sign-in or re-authentication at most this many seconds ago.
REAUTHENTICATION_TIMEOUT = env_int("REAUTHENTICATION_TIMEOUT", 600)

# Rate limits, "N/period" (s, m, h, d, y): N attempts at once, then one more every period/N.
# Override any of them with RATE_LIMITS="signin-account=5/15m,signup-ip=20/h".
RATE_LIMITS = {
    "signin-ip": "60/15m",  # failed password sign-ins from one address (IPv6: one /64)
    "signin-account": "10/15m",  # failed password sign-ins on one account, from anywhere
    "signin-ip-account": "5/15m",  # failed password sign-ins on one account from one address
    "signin-account-cap": "100/100y",  # NIST SP 800-63B: 100 consecutive failures, until success or reset
    "signup-ip": "10/h",
    "signup-address": "3/h",
    "verify-resend-ip": "10/h",
    "verify-resend-address": "3/h",
    "reset-ip": "10/h",
    "reset-address": "3/h",
    "email-change-account": "5/h",
    "mfa-pending": "5/5m",  # second-factor codes tried for one pending sign-in
    "mfa-account": "10/15m",  # second-factor codes tried on one account, across sign-ins
    # NIST SP 800-63B: 100 consecutive wrong codes per account and kind, until a factor or reset
    "mfa-account-cap": "100/100y",
    "signin-code-mail": "3/h",  # sign-in codes mailed to one account past its password cap
    "passkey-ip": "60/5m",  # passkey ceremonies started or finished from one address
    "token-client": "6000/m",  # tokens issued per client (a refused request is not charged to the client)
    "token-ip": "120/m",  # refused token requests from one address (IPv6: one /64)
    "authorize-ip": "120/m",  # authorization requests from one address (IPv6: one /64)
    "audit-throttled": "30/h",  # throttled attempts written to the audit trail per address (no flooding)
    "warning-mail": "1/h",  # warnings mailed per account and kind (password known, cloned passkey): no mail-bombing
}
for _item in env_list("RATE_LIMITS"):
    _name, _, _spec = _item.partition("=")
    if _name.strip() not in RATE_LIMITS:
        raise ImproperlyConfigured(f"RATE_LIMITS names an unknown limit: {_name.strip()!r}")
    RATE_LIMITS[_name.strip()] = _spec.strip()
for _name, _spec in RATE_LIMITS.items():  # a bad limit must stop the start, not fail every request later
    try:
        Limit.parse(_spec)
    except ValueError as error:
        raise ImproperlyConfigured(f"RATE_LIMITS {_name}: {error}") from None

# --- OpenID Connect provider (django-oauth-toolkit, hardened; see oidc) ---------------

OAUTH2_PROVIDER_APPLICATION_MODEL = "oidc.Client"
OAUTH2_PROVIDER_GRANT_MODEL = "oidc.AuthorizationCode"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = (
    "oauth2_provider.AccessToken"  # DOT's own; named so oidc.TokenFamily can point at it
)
# Signing keys: the keyset as JSON in OIDC_SIGNING_KEYS, or a file (generated in development).
OIDC_SIGNING_KEYS = env("OIDC_SIGNING_KEYS")
OIDC_KEYS_FILE = env("OIDC_KEYS_FILE", str(VAR_DIR / "oidc-keys.json"))
# A factor proved after sign-in (a step-up for acr_values) counts for this many seconds.
OIDC_STEP_UP_TIMEOUT = env_int("OIDC_STEP_UP_TIMEOUT", 600)
# Refresh tokens rotate on every use and die this long after the first exchange, whatever happens.
OIDC_REFRESH_TOKEN_ABSOLUTE_LIFETIME = env_int("OIDC_REFRESH_TOKEN_ABSOLUTE_LIFETIME", 30 * 24 * 3600)
OIDC_LOGOUT_TOKEN_LIFETIME = 120
OIDC_BACKCHANNEL_LOGOUT_TIMEOUT = env_int("OIDC_BACKCHANNEL_LOGOUT_TIMEOUT", 5)
OIDC_BACKCHANNEL_LOGOUT_RETRIES = env_int("OIDC_BACKCHANNEL_LOGOUT_RETRIES", 8)
OIDC_SCOPES = {
    "openid": "Sign you in and know who you are",
    "email": "See your email address",
    "profile": "See your name",
    # OpenID Connect Core 11: a refresh token, so the app keeps access while the person is away.
    "offline_access": "Keep access while you are away",
}


def _api_scopes() -> dict[str, str]:
    """Scopes the APIs (resource servers) define, with what the consent page says of each: only these
    may be served, since every app's token carries OpenID Connect's own (review R8)."""
    raw = env("OIDC_API_SCOPES")
    if not raw:
        return {}
    try:
        scopes = json.loads(raw)
    except ValueError:
        scopes = None
    if not isinstance(scopes, dict) or not all(isinstance(text, str) and text.strip() for text in scopes.values()):
        raise ImproperlyConfigured('OIDC_API_SCOPES must be a JSON object: {"scope": "what the consent page says"}.')
    for name in scopes:
        if name in OIDC_SCOPES:
            raise ImproperlyConfigured(f"OIDC_API_SCOPES: {name!r} is an OpenID Connect scope, not an API's.")
        if not re.fullmatch(r"[\x21\x23-\x5b\x5d-\x7e]+", name):  # RFC 6749 §3.3 scope-token
            raise ImproperlyConfigured(f"OIDC_API_SCOPES: {name!r} is not a valid scope name.")
    return scopes


OAUTH2_PROVIDER: dict[str, Any] = {
    "OIDC_ENABLED": True,
    "OIDC_ISS_ENDPOINT": SITE_URL,
    "OAUTH2_VALIDATOR_CLASS": "oidc.validators.IdentityValidator",
    "SCOPES_BACKEND_CLASS": "oidc.scopes.ClientScopes",
    "APPLICATION_ADMIN_CLASS": "oidc.admin.ClientAdmin",
    # Token records read-only and without their values; revoked only through oidc.revocation.
    "ACCESS_TOKEN_ADMIN_CLASS": "oidc.admin.AccessTokenAdmin",
    "REFRESH_TOKEN_ADMIN_CLASS": "oidc.admin.RefreshTokenAdmin",
    "ID_TOKEN_ADMIN_CLASS": "oidc.admin.IDTokenAdmin",
    "GRANT_ADMIN_CLASS": "oidc.admin.AuthorizationCodeAdmin",
    "SCOPES": {**OIDC_SCOPES, **_api_scopes()},
    "DEFAULT_SCOPES": ["openid"],
    "CLIENT_SECRET_HASHER": "client-secret-hmac",
    "PKCE_REQUIRED": True,
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "ACCESS_TOKEN_EXPIRE_SECONDS": env_int("OIDC_ACCESS_TOKEN_LIFETIME", 600),
    "ID_TOKEN_EXPIRE_SECONDS": env_int("OIDC_ID_TOKEN_LIFETIME", 600),
    # Idle limit: a refresh token unused this long after its access token expired is dead.
    "REFRESH_TOKEN_EXPIRE_SECONDS": env_int("OIDC_REFRESH_TOKEN_IDLE_LIFETIME", 14 * 24 * 3600),
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
    # https only; oidc.Client also accepts http for a registered loopback URI (RFC 8252): see uri_problem.
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
    "ALLOW_URI_WILDCARDS": False,
    "REQUEST_APPROVAL_PROMPT": "force",  # consent is decided by oidc.flows
    "OIDC_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_GRANT_TYPES_SUPPORTED": ["authorization_code", "refresh_token", "client_credentials"],
    "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
    "OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT": False,  # asked unless a valid id_token_hint names this user
    # DOT's strict mode refuses http for public clients; registration already allows http only on loopback.
    "OIDC_RP_INITIATED_LOGOUT_STRICT_REDIRECT_URIS": False,
    "OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS": False,  # our sign-out revokes the session's tokens itself
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
}

# --- Redis: sessions and the cache ---------------------------------------------------------

REDIS_URL = env("REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_SOCKET_TIMEOUT = float(env("REDIS_SOCKET_TIMEOUT", "1.0"))
# High availability: with sentinels ("host:port,host:port,..."), everything that uses Redis (sessions,
# counters, the cache, Celery) follows the master they name for REDIS_SENTINEL_MASTER through a failover;
# REDIS_URL then gives only the password and the database number.
try:
    REDIS_SENTINELS = parse_sentinels(env("REDIS_SENTINELS"))
except ValueError as error:
    raise ImproperlyConfigured(f"REDIS_SENTINELS: {error}") from None
if REDIS_SENTINELS and not REDIS_URL.startswith("redis://"):
    raise ImproperlyConfigured("REDIS_SENTINELS needs a redis:// REDIS_URL (TLS through Sentinel is not supported).")
REDIS_SENTINEL_MASTER = env("REDIS_SENTINEL_MASTER", "mymaster")
REDIS_SENTINEL_PASSWORD = env("REDIS_SENTINEL_PASSWORD")
CACHES = {
    "default": {
        "BACKEND": "identity.redis.Cache",  # on identity.redis.connection(), with its timeouts
        "KEY_PREFIX": "identity",
    }
}

SESSION_ENGINE = "accounts.sessions"
SESSION_IDLE_TIMEOUT = env_int("SESSION_IDLE_TIMEOUT", 30 * 60)
SESSION_ABSOLUTE_LIFETIME = env_int("SESSION_ABSOLUTE_LIFETIME", 12 * 3600)
SESSION_COOKIE_AGE = SESSION_IDLE_TIMEOUT
SESSION_SAVE_EVERY_REQUEST = True  # each request pushes the idle deadline forward
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True

# Outside development the cookies are Secure and __Host- prefixed (no Domain, Path=/, https only).
SECURE_COOKIES = env_bool("SECURE_COOKIES", default=not DEBUG)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_NAME = "__Host-session" if SECURE_COOKIES else "session"
CSRF_COOKIE_NAME = "__Host-csrftoken" if SECURE_COOKIES else "csrftoken"
CSRF_FAILURE_VIEW = "identity.views.csrf_failure"

if not DEBUG:
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXIES else None
SECURE_CONTENT_TYPE_NOSNIFF = True
# A strict policy: no inline script or style anywhere, nothing from other origins, never framed.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- Mail and Celery -------------------------------------------------------------------------

EMAIL_HOST = env("EMAIL_HOST")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", f"{SITE_NAME} <no-reply@localhost>")
if EMAIL_HOST or not DEBUG:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = EMAIL_HOST or "localhost"
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

# Outbox rows still unsent this many seconds after they were written are enqueued again.
MAIL_SWEEP_AFTER = env_int("MAIL_SWEEP_AFTER", 120)
MAIL_MAX_ATTEMPTS = env_int("MAIL_MAX_ATTEMPTS", 20)

# Without a URL of its own, the broker shares Redis with the site (through the sentinels if there are any).
CELERY_BROKER_URL = env("CELERY_BROKER_URL") or (
    kombu_sentinel_url(REDIS_URL, REDIS_SENTINELS) if REDIS_SENTINELS else REDIS_URL
)
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # the worker logs through LOGGING too: the same JSON lines
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing from a web request must not hang while the broker is down: the outbox sweep catches up.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {"socket_connect_timeout": 2, "socket_timeout": 5}
if CELERY_BROKER_URL.startswith("sentinel://"):
    CELERY_BROKER_TRANSPORT_OPTIONS["master_name"] = REDIS_SENTINEL_MASTER
    if REDIS_SENTINEL_PASSWORD:
        CELERY_BROKER_TRANSPORT_OPTIONS["sentinel_kwargs"] = {
            "password": REDIS_SENTINEL_PASSWORD,
            "socket_connect_timeout": 2,
            "socket_timeout": 5,
        }
CELERY_BEAT_SCHEDULE = {
    "sweep-mail-outbox": {"task": "accounts.tasks.sweep_outbox", "schedule": 60.0},
    "sweep-pending-logouts": {"task": "oidc.tasks.sweep_pending_logouts", "schedule": 60.0},
    "forget-expired-credential-events": {"task": "accounts.tasks.forget_expired_credential_events", "schedule": 3600.0},
}

# --- Pages -----------------------------------------------------------------------------------

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

MESSAGE_STORAGE = "identity.messages.MessageCookieStorage"  # never the session: see identity/messages.py

# /metrics: Prometheus scrapes from these networks, or anywhere with the bearer token.
METRICS_ALLOWED_IPS = env_list("METRICS_ALLOWED_IPS", "127.0.0.1,::1")
METRICS_TOKEN = env("METRICS_TOKEN")
try:
    parse_networks(METRICS_ALLOWED_IPS)
except ValueError as error:
    raise ImproperlyConfigured(f"METRICS_ALLOWED_IPS: {error}") from None

LOG_FORMAT = env("LOG_FORMAT", "text" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "identity.logging.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
}
