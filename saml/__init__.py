"""The SAML 2.0 identity provider (issue 17)."""
