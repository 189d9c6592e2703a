"""The directory: groups of people, the roles each relying app defines, and who is assigned to which app.

It sits between accounts and the protocol apps (oidc, scim): they read it to say what a person may do;
it references the relying app through DOT's swappable application model and never imports oidc.
"""
