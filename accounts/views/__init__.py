from .password import PasswordChangeView, PasswordResetConfirmView, password_reset, password_reset_sent
from .security import (
    email_change,
    email_change_confirm,
    email_change_link,
    end_other_sessions_view,
    end_session,
    home,
    not_me,
    reauthenticate,
    security_page,
)
from .signin import check_inbox, signin, signout, signup, verify_email_confirm, verify_email_link, verify_email_resend

__all__ = [
    "PasswordChangeView",
    "PasswordResetConfirmView",
    "check_inbox",
    "email_change",
    "email_change_confirm",
    "email_change_link",
    "end_other_sessions_view",
    "end_session",
    "home",
    "not_me",
    "password_reset",
    "password_reset_sent",
    "reauthenticate",
    "security_page",
    "signin",
    "signout",
    "signup",
    "verify_email_confirm",
    "verify_email_link",
    "verify_email_resend",
]
