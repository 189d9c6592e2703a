"""The SCIM 2.0 server (RFC 7643/7644): provisioning systems (Entra ID, Okta, an HR system) create,
change, deactivate and delete people and groups here, each through a client an admin registered with
its own bearer token and limits. The protocol is scim2-server's; this app is its storage over our
models, its authorisation, and the one view that adapts Django's request. See docs/scim.md.
"""
