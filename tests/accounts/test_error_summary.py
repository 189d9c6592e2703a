"""Every form page with server-side errors starts with an error summary (includes/form_errors.html) that
js/error-summary.js focuses: it lists non-field errors and links each field error to its field, and the
field says it is invalid and points at its error list."""

import re

import pytest

from tests.users import PASSWORD

pytestmark = pytest.mark.django_db


def summary(html: str) -> str:
    found = re.search(r'<div class="error-summary"[^>]*data-error-summary>(.*?)</div>\s*</div>', html, re.S)
    assert found, "no error summary"
    return found[1]


def field_tag(html: str, field_id: str) -> str:
    tag = re.search(rf'<input[^>]*id="{field_id}"[^>]*>', html)
    assert tag, f"no field {field_id}"
    return tag[0]


def test_a_field_error_is_linked_from_the_summary_and_described_on_the_field(client):
    html = client.post("/accounts/password/reset/", {"email": "not an address"}).content.decode()
    box = summary(html)
    assert "There is a problem" in box
    assert re.search(r"<a href=\"#id_email\">Email address: [^<]+</a>", box)
    tag = field_tag(html, "id_email")
    assert 'aria-invalid="true"' in tag
    described = re.search(r'aria-describedby="([^"]+)"', tag)[1].split()
    assert "id_email_error" in described
    for target in described:
        assert f'id="{target}"' in html, f"aria-describedby points at a missing {target}"
    assert re.search(r'<script type="module" src="/static/js/error-summary[^"]*\.js">', html)


def test_non_field_errors_are_listed_in_the_summary(client, user):
    html = client.post("/accounts/login/", {"email": user.email, "password": "wrong"}).content.decode()
    box = summary(html)
    assert "do not match an account" in box


def test_german_summary(client):
    html = client.post("/accounts/password/reset/", {"email": "x"}, HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Es gibt ein Problem" in summary(html)


def test_no_summary_without_errors(client):
    html = client.get("/accounts/password/reset/").content.decode()
    assert "data-error-summary" not in html
    assert "aria-invalid" not in html


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/accounts/password/change/", {"old_password": "wrong", "new_password1": "a", "new_password2": "b"}),
        ("/accounts/email/", {"email": "nope"}),
    ],
)
def test_signed_in_forms_have_the_summary(signed_in_client, path, data):
    response = signed_in_client.post(path, data)
    assert response.status_code in (200, 400), response
    assert "There is a problem" in summary(response.content.decode())


def test_help_text_ids_exist_where_the_field_points(client):
    html = client.post("/accounts/signup/", {"email": "x", "password": PASSWORD[:3]}).content.decode()
    tag = field_tag(html, "id_password")
    for target in re.search(r'aria-describedby="([^"]+)"', tag)[1].split():
        assert f'id="{target}"' in html


def test_a_broken_verification_link_leads_to_the_form_for_a_new_one(client):
    """Its page rendered the form without a form: an empty label, and a button that posted nothing (and,
    under the token's no-referrer URL, with Origin: null, so CSRF refused it)."""
    response = client.get("/accounts/verify/not-a-token/")
    assert response.status_code == 400
    html = response.content.decode()
    assert "<form" not in html.split("<main", 1)[1].split("</main>")[0] and 'href="/accounts/verify/confirm/"' in html
    asked = client.get("/accounts/verify/confirm/")
    assert asked.status_code == 400 and 'id="id_email"' in asked.content.decode()


def test_every_template_with_form_fields_has_the_error_summary():
    """A form page added without it leaves focus on <body> after a server-side error (issue 19)."""
    from pathlib import Path

    templates = Path(__file__).resolve().parents[2] / "templates"
    missing = [
        str(path.relative_to(templates))
        for path in templates.rglob("*.html")
        if "includes/field.html" in (text := path.read_text())
        and "includes/form_errors.html" not in text
        and "includes/post_form.html" not in text
    ]
    assert missing == []
