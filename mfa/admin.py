"""Second factors appear in the admin only on the person's page (accounts/admin.py), where removing one
goes through the person's own removal flow.

django-otp's own TOTP device admin is taken back: it shows every device's secret (and a QR code of it)
to anyone allowed to view devices, and adds, edits or deletes devices with no mail to the owner, no
audit and no last-factor rule. It registers itself when its module is imported, so it is imported
here, before the admin's autodiscovery reaches it, and unregistered.
"""

from django.contrib import admin
from django_otp.plugins.otp_totp import admin as otp_totp_admin  # noqa: F401  (registers its admin)
from django_otp.plugins.otp_totp.models import TOTPDevice

if admin.site.is_registered(TOTPDevice):
    admin.site.unregister(TOTPDevice)
