""" "Download my data" and deleting the account: both after a recent re-authentication."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers, patch_cache_control
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from ..account_data import account_data
from ..audit import record_event
from ..decorators import reauthentication_required
from ..flows.closing import delete_own_account, may_delete_itself
from ..models import SecurityEvent
from ..profile_forms import DeleteAccountForm


@require_GET
@reauthentication_required
def download_data(request):
    """A GET, as a download link is, but only for the signed-in person after sudo, never cached
    (private, no-store), and audited: whoever took the session must not quietly copy the account."""
    user = request.user
    record_event(request, SecurityEvent.Kind.DATA_EXPORTED, user)
    body = json.dumps(account_data(user), cls=DjangoJSONEncoder, ensure_ascii=False, indent=2)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    name = f"identity-data-{user.subject}-{timezone.now():%Y-%m-%d}.json"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    add_never_cache_headers(response)
    patch_cache_control(response, private=True, no_store=True)
    return response


@never_cache
@require_http_methods(["GET", "POST"])
@reauthentication_required(return_to="accounts:delete_account")
def delete_account(request):
    user = request.user
    if not may_delete_itself(user):
        messages.error(request, _("Administrators can't delete their own account here. Ask another administrator."))
        return render(request, "accounts/delete_account.html", {"refused": True}, status=403)
    form = DeleteAccountForm(user, data=request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        delete_own_account(request)
        return redirect("accounts:account_deleted")
    return render(request, "accounts/delete_account.html", {"form": form}, status=400 if form.is_bound else 200)


@require_GET
def account_deleted(request):
    return render(request, "accounts/account_deleted.html")
