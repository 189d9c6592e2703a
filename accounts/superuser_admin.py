"""Admin pages whose records grant power beyond themselves, so that only superusers change them.

A group's permissions are everyone's in it (a staff member allowed to change groups could give their
own group every permission), and a relying app's addresses, type and secret decide where sign-in codes
and tokens go (a staff member allowed to change apps could send a first-party app's codes, superusers'
included, to an address they read). Everyone else with access sees these pages read-only, told why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.models import Group
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

    _ModelAdmin = admin.ModelAdmin  # what the mixin is mixed into
else:
    _ModelAdmin = object

PROTECTED_GROUPS = _("Only a superuser can change groups: a group's permissions are given to everyone in it.")


def refuse(model_admin: admin.ModelAdmin, request, message) -> TemplateResponse:
    """A 403 that says why, inside the admin, instead of a bare "Forbidden"."""
    context = {
        **model_admin.admin_site.each_context(request),
        "title": _("Not allowed"),
        "message": message,
        "opts": model_admin.opts,
    }
    return TemplateResponse(request, "admin/refused.html", context, status=403)


class SuperuserChangesOnly(_ModelAdmin):
    """A ModelAdmin mixin: adding, changing and deleting (and every action that needs those) are for
    superusers; the others keep what they were given to look at, with `protected_message` on the page."""

    protected_message: StrOrPromise = ""

    def has_add_permission(self, request, *args) -> bool:
        return request.user.is_superuser and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser and super().has_delete_permission(request, obj)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if not request.user.is_superuser:
            if request.method == "POST":
                return refuse(self, request, self.protected_message)
            if object_id is not None:
                self.message_user(request, self.protected_message, messages.WARNING)
        return super().changeform_view(request, object_id, form_url, extra_context)


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(SuperuserChangesOnly, DjangoGroupAdmin):
    protected_message = PROTECTED_GROUPS
