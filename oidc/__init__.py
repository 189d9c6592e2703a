def issuer() -> str:
    """The issuer (SITE_URL), read where django-oauth-toolkit keeps it, so ID tokens, logout tokens and
    authorization responses (RFC 9207 `iss`) always name the same one."""
    # This package is imported while Django loads the apps, before DOT's settings may be read.
    from oauth2_provider.settings import oauth2_settings

    return oauth2_settings.OIDC_ISS_ENDPOINT
