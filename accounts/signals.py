"""What accounts announces to the rest of the service without knowing who listens (the OIDC provider).

`sessions_ended(user_id, refs)`: these sessions ended (sign-out, ended from the security page or by an
admin); `refs` are their stable session references, as put in ID tokens' `sid`.
`access_revoked(user, keep_refs=())`: nothing granted on this person's behalf may keep working
(deactivation, password change or reset, email change by an admin, "this wasn't me"), except what was
granted through the sessions named in `keep_refs` (a password change keeps the session that made it).
`credentials_disowned(request, user, added)`: the owner says they did not add these credentials (a
credential event's `added`: factor and recovery-code ids); whoever owns them removes them, in the
caller's transaction.
"""

from django.dispatch import Signal

sessions_ended = Signal()
access_revoked = Signal()
credentials_disowned = Signal()
