import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction

from accounts.models import User, normalize_email

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("  Ada@Example.COM ", "Ada@example.com"),
        ("ｕｓｅｒ@ＥＸＡＭＰＬＥ.com", "user@example.com"),  # full-width forms fold under NFKC
        ("a.b+tag@Sub.Example.org", "a.b+tag@sub.example.org"),
    ],
)
def test_email_is_trimmed_nfkc_normalised_and_domain_lowercased(raw, normalised):
    assert normalize_email(raw) == normalised


def test_email_is_unique_regardless_of_case_by_a_database_constraint():
    User.objects.create_user("ada@example.com", "x" * 20)
    with pytest.raises(IntegrityError), transaction.atomic():
        # Bypass the manager and forms: the database itself must refuse it.
        User.objects.bulk_create([User(email="ADA@example.com")])


def test_lookup_by_email_ignores_case(make_user):
    user = make_user("Ada@example.com")
    assert User.objects.get_by_email("ada@EXAMPLE.com") == user
    assert User.objects.get_by_email(" ADA@example.com ") == user


def test_createsuperuser_works_without_a_username(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a long admin password 42")
    call_command("createsuperuser", "--noinput", "--email", "Root@Example.com", verbosity=0)
    admin = User.objects.get_by_email("root@example.com")
    assert admin.is_superuser and admin.is_staff and admin.email_verified
    assert admin.email == "Root@example.com"
    assert admin.check_password("a long admin password 42")
