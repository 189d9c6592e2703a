"""Settings for Identity, read from the environment: the project's own, and those Django and its
libraries read. A setting only one app reads lives with its app (`accounts/app_settings.py`,
`mfa/app_settings.py`, `oidc/app_settings.py`; see identity/env.py).

Production hardening is the default; `DJANGO_DEBUG=1` relaxes it explicitly for development.
Every variable read here is documented in README.md with its default. A value that is not of its
variable's type stops the start here, naming the variable (identity/env.py); one that is well formed
but wrong (an unknown rate limit, a proxy that is no address) is a system check's to report
(identity/checks.py), which `manage.py check`, runserver and every web process at its start run.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from identity.env import env
from identity.redis import kombu_sentinel_url, parse_cluster_nodes, parse_sentinels

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR: Path = BASE_DIR / "var"

DEBUG = env.bool("DJANGO_DEBUG", False)


def _secret_key() -> str:
    """Production refuses to start without a key; development keeps a generated one in an ignored file."""
    key = env.str("DJANGO_SECRET_KEY", "")
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

SITE_URL = env.str("SITE_URL", "http://localhost:8000" if DEBUG else "").rstrip("/")
if not SITE_URL:
    raise ImproperlyConfigured(
        "SITE_URL (the public origin, e.g. https://id.example.com) must be set when DJANGO_DEBUG is off."
    )
SITE_NAME = env.str("SITE_NAME", "Identity")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = [SITE_URL]
# Addresses (or networks, in CIDR notation) of reverse proxies whose X-Forwarded-For we believe.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])

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
    "directory",
    "oidc",
    "federation",
    "scim",
    "saml",
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
    "accounts.middleware.AccountLanguageMiddleware",
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

_database_url = env.str("DATABASE_URL", "")  # not a setting of its own: it holds the password
if not _database_url:
    VAR_DIR.mkdir(exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(
        _database_url or f"sqlite:///{VAR_DIR / 'identity.sqlite3'}",
        conn_max_age=env.int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # A hung database must fail fast (503, /readyz) rather than hold a worker until TCP gives up.
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env.int("DATABASE_CONNECT_TIMEOUT", 2)
elif DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The embedded default is used by several processes at once (gunicorn's workers, Celery's worker and
    # beat): WAL lets readers go on beside a writer; a transaction takes the write lock when it begins
    # (IMMEDIATE), waiting up to the timeout, instead of failing with "database is locked" at its first
    # write after work it cannot undo (a mail already sent, then sent again by the sweep).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": env.int("SQLITE_BUSY_TIMEOUT", 20),
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Accounts and passwords -------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["accounts.backends.EmailBackend"]
LOGIN_URL = "accounts:signin"
LOGIN_REDIRECT_URL = "accounts:home"

PASSWORD_HASHERS = [
    "accounts.hashers.Argon2idHasher",  # its cost: ARGON2_* in accounts/app_settings.py
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "oidc.hashers.ClientSecretHasher",  # relying apps' secrets only (see that module)
]

# NIST SP 800-63B: length, not composition; a long maximum only to bound hashing work.
PASSWORD_MIN_LENGTH = env.int("PASSWORD_MIN_LENGTH", 12)
PASSWORD_MAX_LENGTH = env.int("PASSWORD_MAX_LENGTH", 1024)
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
    {"NAME": "accounts.validators.BreachedPasswordValidator"},  # its service: PASSWORD_BREACH_CHECK_* (accounts)
]
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", 3600)

# django-otp's own settings (the cap on its back-off, MFA_TOTP_MAX_BACKOFF, is mfa's).
OTP_TOTP_ISSUER = SITE_NAME
OTP_TOTP_THROTTLE_FACTOR = 1  # django-otp's own backoff per device, under the Redis limits below

# Rate limits, "N/period" (s, m, h, d, y): N attempts at once, then one more every period/N.
# Override any of them with RATE_LIMITS="signin-account=5/15m,signup-ip=20/h". The table's names are
# the known ones: identity.E004 and E005 (identity/checks.py) refuse an override naming another, or a
# limit that does not parse, so a typo stops the start rather than failing every request that uses it.
RATE_LIMIT_DEFAULTS = {
    "signin-ip": "60/15m",  # failed password sign-ins from one address (IPv6: one /64)
    "signin-account": "10/15m",  # failed password sign-ins on one account, from anywhere
    "signin-ip-account": "5/15m",  # failed password sign-ins on one account from one address
    "signin-account-cap": "100/100y",  # NIST SP 800-63B: 100 consecutive failures, until success or reset
    # the current password typed on the password-change page, per account and session: its own counters,
    # so wrong guesses there (the owner's, or a stolen session's) never throttle the address's sign-in
    "password-change-session": "5/15m",
    "password-change-cap": "100/100y",  # NIST SP 800-63B again: until a right current password or a reset
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
    "saml-ip": "120/m",  # SAML requests (sign-on, logout) from one address (IPv6: one /64)
    "federation-ip": "30/5m",  # sign-ins through another provider started or finished from one address
    "signin-realm-ip": "60/5m",  # the sign-in page asking whether a domain signs in with a provider
    "audit-throttled": "30/h",  # throttled attempts written to the audit trail per address (no flooding)
    "warning-mail": "1/h",  # warnings mailed per account and kind (password known, cloned passkey): no mail-bombing
    "scim-client": "1200/m",  # SCIM requests per client (a bulk sync sends one request per change)
    "scim-token-ip": "20/5m",  # SCIM requests with a missing or wrong token from one address (IPv6: one /64)
}
RATE_LIMITS = dict(RATE_LIMIT_DEFAULTS)
for _name, _, _spec in (item.partition("=") for item in env.list("RATE_LIMITS", default=[])):
    RATE_LIMITS[_name.strip()] = _spec.strip()

# --- OpenID Connect provider (django-oauth-toolkit, hardened; see oidc) ---------------

OAUTH2_PROVIDER_APPLICATION_MODEL = "oidc.Client"
OAUTH2_PROVIDER_GRANT_MODEL = "oidc.AuthorizationCode"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = (
    "oauth2_provider.AccessToken"  # DOT's own; named so oidc.TokenFamily can point at it
)
# The provider's own settings (keys, step-up, logout) are in oidc/app_settings.py; these are DOT's.
OIDC_SCOPES = {
    "openid": "Sign you in and know who you are",
    "email": "See your email address",
    "profile": "See your name",
    # OpenID Connect Core 11: a refresh token, so the app keeps access while the person is away.
    "offline_access": "Keep access while you are away",
    # The directory: the app's roles the person holds (and, for apps that ask, their groups' ids).
    "roles": "See your roles and groups in this app",
}

OAUTH2_PROVIDER = {
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
    "SCOPES": OIDC_SCOPES,  # APIs' scopes are registered in the admin (oidc.models.ApiScope, oidc.scopes)
    # RFC 9068 JWTs for tokens with an API as audience (oidc.access_tokens); refresh tokens stay random.
    "ACCESS_TOKEN_GENERATOR": "oidc.access_tokens.generate",
    "REFRESH_TOKEN_GENERATOR": "oauthlib.oauth2.rfc6749.tokens.random_token_generator",
    "DEFAULT_SCOPES": ["openid"],
    "CLIENT_SECRET_HASHER": "client-secret-hmac",
    "PKCE_REQUIRED": True,
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "ACCESS_TOKEN_EXPIRE_SECONDS": env.int("OIDC_ACCESS_TOKEN_LIFETIME", 600),
    "ID_TOKEN_EXPIRE_SECONDS": env.int("OIDC_ID_TOKEN_LIFETIME", 600),
    # Idle limit: a refresh token unused this long after its access token expired is dead.
    "REFRESH_TOKEN_EXPIRE_SECONDS": env.int("OIDC_REFRESH_TOKEN_IDLE_LIFETIME", 14 * 24 * 3600),
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

REDIS_URL = env.str("REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_SOCKET_TIMEOUT = env.float("REDIS_SOCKET_TIMEOUT", 1.0)
# High availability: with sentinels ("host:port,host:port,..."), everything that uses Redis (sessions,
# counters, the cache, Celery) follows the master they name for REDIS_SENTINEL_MASTER through a failover;
# REDIS_URL then gives only the password and the database number (redis:// only: identity.E006).
# An entry that is no host:port address is not of the variable's type, so it stops the start here.
try:
    REDIS_SENTINELS = parse_sentinels(env.str("REDIS_SENTINELS", ""))
except ValueError as error:
    raise ImproperlyConfigured(f"REDIS_SENTINELS: {error}") from None
REDIS_SENTINEL_MASTER = env.str("REDIS_SENTINEL_MASTER", "mymaster")
REDIS_SENTINEL_PASSWORD = env.str("REDIS_SENTINEL_PASSWORD", "")
# Scale-out: with some nodes of a Redis Cluster ("host:port,host:port,..."), sessions, counters and the
# cache are spread over its masters by hash slot and follow a failover of any of them; REDIS_URL then gives
# only the credentials and TLS (rediss://), its database must be 0, and Celery's broker needs a
# CELERY_BROKER_URL of its own (kombu cannot use a cluster). Never together with REDIS_SENTINELS (identity.E007).
try:
    REDIS_CLUSTER_NODES = parse_cluster_nodes(env.str("REDIS_CLUSTER_NODES", ""))
except ValueError as error:
    raise ImproperlyConfigured(f"REDIS_CLUSTER_NODES: {error}") from None
CACHES = {
    "default": {
        "BACKEND": "identity.redis.Cache",  # on identity.redis.connection(), with its timeouts
        "KEY_PREFIX": "identity",
    }
}

SESSION_ENGINE = "accounts.sessions"
SESSION_IDLE_TIMEOUT = env.int("SESSION_IDLE_TIMEOUT", 30 * 60)
SESSION_ABSOLUTE_LIFETIME = env.int("SESSION_ABSOLUTE_LIFETIME", 12 * 3600)
SESSION_COOKIE_AGE = SESSION_IDLE_TIMEOUT
SESSION_SAVE_EVERY_REQUEST = True  # each request pushes the idle deadline forward
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True

# Outside development the cookies are Secure and __Host- prefixed (no Domain, Path=/, https only).
SECURE_COOKIES = env.bool("SECURE_COOKIES", not DEBUG)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_NAME = "__Host-session" if SECURE_COOKIES else "session"
CSRF_COOKIE_NAME = "__Host-csrftoken" if SECURE_COOKIES else "csrftoken"
CSRF_FAILURE_VIEW = "identity.views.csrf_failure"

if not DEBUG:
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", True)
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", True)
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

EMAIL_HOST = env.str("EMAIL_HOST", "")
EMAIL_PORT = env.int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", f"{SITE_NAME} <no-reply@localhost>")
if EMAIL_HOST or not DEBUG:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = EMAIL_HOST or "localhost"
else:  # development: each mail printed as one marked block and kept as a file
    EMAIL_BACKEND = "identity.mail.DevelopmentEmailBackend"
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", str(BASE_DIR / "var" / "mail"))

# Without a URL of its own, the broker shares Redis with the site (through the sentinels if there are any);
# never a Redis Cluster: with REDIS_CLUSTER_NODES it stays empty unless set, and a check refuses that.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", "") or (
    kombu_sentinel_url(REDIS_URL, REDIS_SENTINELS) if REDIS_SENTINELS else "" if REDIS_CLUSTER_NODES else REDIS_URL
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
    "sweep-saml-logouts": {"task": "saml.tasks.sweep_pending_logouts", "schedule": 60.0},
    "forget-old-saml-sign-ons": {"task": "saml.tasks.forget_old_sign_ons", "schedule": 3600.0},
    "forget-expired-credential-events": {"task": "accounts.tasks.forget_expired_credential_events", "schedule": 3600.0},
}

# --- Pages -----------------------------------------------------------------------------------

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# The switcher's choice (Django's set_language): a year, Lax, and Secure and __Host- prefixed outside
# development, like the session cookie; the account keeps it too (User.language) for other browsers.
LANGUAGE_COOKIE_NAME = "__Host-language" if SECURE_COOKIES else "language"
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SECURE = SECURE_COOKIES
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
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
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=["127.0.0.1", "::1"])
METRICS_TOKEN = env.str("METRICS_TOKEN", "")

LOG_FORMAT = env.str("LOG_FORMAT", "text" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "identity.logging.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", "INFO")},
    # pysaml2 logs whole messages (NameIDs, attributes) at INFO, and xmlschema its schema loading: only
    # their warnings and errors are ours to read (saml/ logs what it decides).
    "loggers": {"saml2": {"level": "WARNING"}, "xmlschema": {"level": "WARNING"}},
}
