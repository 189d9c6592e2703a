import pytest

from accounts.sessions import SESSION_PREFIX, session_id
from identity.redis import connection
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_signin_with_right_password_lands_on_account_page(client, user):
    response = client.post("/accounts/login/", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/"
    page = client.get("/accounts/")
    assert page.status_code == 200
    assert user.email in page.content.decode()
