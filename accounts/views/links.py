from django.core import signing
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


def stash_link_token(session_key: str, confirm_url_name: str, salt: str, invalid_template: str):
    """A view for a mailed link: it moves the token into the session and redirects to a token-free
    confirmation page, so the token never leaves in a Referer header and a GET changes nothing.
    Only a token carrying this site's signature gets that far: junk links create no session."""

    @never_cache
    @require_GET
    def view(request, token: str):
        try:
            signing.loads(token, salt=salt)
        except signing.BadSignature:
            return render(request, invalid_template, status=400)
        request.session[session_key] = token
        return redirect(confirm_url_name)

    return view
