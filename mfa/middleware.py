from django.shortcuts import redirect
from django.urls import reverse

from accounts.flows.signin import safe_next_url

from .stages import MFA_ENROLMENT_REQUIRED, MFA_SETUP_NEXT


class EnrolmentRequiredMiddleware:
    """Someone who must use a second factor and has none may do nothing but enrol one (or sign out)."""

    ALLOWED = (
        "mfa:totp_add",
        "mfa:recovery_codes",
        "mfa:passkey_register_options",
        "mfa:passkey_register",
        "accounts:signout",
        "accounts:reauthenticate",
        # Re-authenticating with a factor enrolled meanwhile in another session.
        "mfa:challenge",
        "mfa:passkey_signin_options",
        "mfa:passkey_signin",
    )

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated and request.session.get(MFA_ENROLMENT_REQUIRED):
            allowed = {reverse(name) for name in self.ALLOWED}
            if request.path not in allowed:
                if request.method == "GET" and (going := safe_next_url(request.get_full_path())):
                    request.session.setdefault(MFA_SETUP_NEXT, going)  # continue there once a factor is set up
                return redirect("mfa:totp_add")
        return self.get_response(request)
