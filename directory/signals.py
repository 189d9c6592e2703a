"""What the directory announces without knowing who listens (the OIDC provider).

`access_reduced(user, app, assignment_lost)`: once a change is committed, this person holds fewer of
the app's roles than before, or (`assignment_lost`) is no longer assigned to an app that requires
assignment. Whatever the app was granted on the person's behalf must stop; when the assignment is
lost the app is told as well.
"""

from django.dispatch import Signal

access_reduced = Signal()
