"""Development mail (identity/mail.py): one marked block per mail, with its links, and an .eml file."""

from __future__ import annotations

import email
import io

import pytest
from django.db import transaction

from accounts.models import OutboxMail
from accounts.outbox import queue_mail, render_mail
from identity.mail import DevelopmentEmailBackend

pytestmark = pytest.mark.django_db


def test_each_mail_is_one_marked_block_with_its_links_and_a_file(user, settings, tmp_path):
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    with transaction.atomic():
        row = queue_mail(OutboxMail.Kind.PASSWORD_RESET, user)
    message = render_mail(row)
    out = io.StringIO()
    assert DevelopmentEmailBackend(stream=out).send_messages([message]) == 1

    lines = out.getvalue().splitlines()
    assert lines[0] == f"===== Mail to {user.email}: {message.subject} ====="
    [saved] = (tmp_path / "mail").iterdir()
    assert lines[-1] == f"===== saved as {saved} ====="
    links = lines[lines.index("Links:") + 1 : -1]
    [reset] = [link.strip() for link in links if "/accounts/password/reset/" in link]
    assert reset.startswith(settings.SITE_URL) and reset in message.body
    assert "Content-Transfer-Encoding" not in out.getvalue(), "the text, not the MIME source"

    assert saved.suffix == ".eml" and saved.name.endswith("-identity-reset-your-password.eml")
    parsed = email.message_from_bytes(saved.read_bytes())
    assert parsed["To"] == user.email and parsed.is_multipart()


def test_development_settings_use_it():
    from tests.identity.test_settings import load

    result = load({"DJANGO_DEBUG": "1"}, probe="from django.conf import settings; print(settings.EMAIL_BACKEND)")
    assert result.stdout.strip().splitlines()[-1] == "identity.mail.DevelopmentEmailBackend"
