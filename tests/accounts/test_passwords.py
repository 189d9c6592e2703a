import pytest
from django.contrib.auth.hashers import identify_hasher, make_password

from accounts.models import User
from tests.users import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.mark.usefixtures("production_argon2")
def test_passwords_are_hashed_with_argon2id_at_owasp_parameters(user):
    assert user.password.startswith("argon2$argon2id$v=19$m=19456,t=2,p=1$")
    assert identify_hasher(user.password).algorithm == "argon2"


def test_hash_with_other_parameters_is_upgraded_at_next_signin(client, user, settings):
    settings.ARGON2_MEMORY_COST_KIB = 8192
    settings.ARGON2_TIME_COST = 1
    user.set_password(PASSWORD)
    user.save()
    assert "m=8192,t=1" in user.password
    settings.ARGON2_MEMORY_COST_KIB = 19456
    settings.ARGON2_TIME_COST = 2

    assert client.post("/accounts/login/", {"email": user.email, "password": PASSWORD}).status_code == 302
    user.refresh_from_db()
    assert "m=19456,t=2,p=1" in user.password


def test_pbkdf2_hash_is_upgraded_to_argon2id_at_next_signin(client, user):
    User.objects.filter(pk=user.pk).update(password=make_password(PASSWORD, hasher="pbkdf2_sha256"))
    assert client.post("/accounts/login/", {"email": user.email, "password": PASSWORD}).status_code == 302
    user.refresh_from_db()
    assert user.password.startswith("argon2$argon2id$")


def signup(client, password, email="new@example.com"):
    return client.post("/accounts/signup/", {"email": email, "password": password})


def test_eleven_characters_are_refused_with_a_message_next_to_the_field(client):
    response = signup(client, "zqxjvkwpmtr")
    assert response.status_code == 400
    assert "at least 12 characters" in response.content.decode()
    assert not User.objects.exists()


@pytest.mark.parametrize("length", [12, 64, 200])
def test_long_passwords_without_composition_rules_are_accepted(client, length):
    password = ("zqxjvkwpmtrb" * 20)[:length]  # lower-case letters only: no composition rules
    assert signup(client, password).status_code == 302
    assert User.objects.get().check_password(password)


def test_long_passwords_are_not_truncated(make_user):
    password = "q" * 100 + "tail-one"
    user = make_user(password=password)
    assert user.check_password(password)
    assert not user.check_password("q" * 100 + "tail-two")
    assert not user.check_password("q" * 100)


def test_password_beyond_the_maximum_is_refused(client):
    response = signup(client, "x" * 1025)
    assert response.status_code == 400
    assert "too long" in response.content.decode()


def test_common_password_is_refused(client):
    response = signup(client, "password1234")
    assert response.status_code == 400
    assert "too common" in response.content.decode()


def test_password_too_close_to_the_email_is_refused(client):
    response = signup(client, "ada.lovelace@example.com", email="ada.lovelace@example.com")
    assert response.status_code == 400
    assert "too similar" in response.content.decode()


def test_unicode_passwords_are_normalised_before_hashing(make_user):
    # "Å" as one code point and as A + combining ring: the same password typed on two keyboards.
    user = make_user(password="p\u00c5ssword-long-enough")
    assert user.check_password("pA\u030assword-long-enough")


@pytest.mark.parametrize("language, confirm", [("en", "Confirm the new password"), ("de", "Neues Passwort bestätigen")])
def test_setting_and_changing_a_password_speak_plainly(user, language, confirm):
    """Django's stock labels said "New password confirmation" and "Old password"."""
    from django.utils import translation

    from accounts.forms import PasswordChangeForm, SetPasswordForm

    with translation.override(language):
        assert str(SetPasswordForm(user).fields["new_password2"].label) == confirm
        change = PasswordChangeForm(user)
        assert str(change.fields["new_password2"].label) == confirm
        assert (
            str(change.fields["old_password"].label) == {"en": "Current password", "de": "Aktuelles Passwort"}[language]
        )
