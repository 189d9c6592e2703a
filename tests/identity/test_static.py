"""Static files the production way: collected with hashed names, served by whitenoise with long caching."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import django, re
django.setup()
from django.core.management import call_command
call_command("collectstatic", "--noinput", verbosity=0)
from django.templatetags.static import static
from django.test import Client
url = static("css/site.css")
assert re.search(r"site\\.[0-9a-f]{12}\\.css$", url), url
hashed = Client().get(url, secure=True)
plain = Client().get("/static/css/site.css", secure=True)
print(hashed.status_code, hashed["Cache-Control"], "|", plain.status_code, plain.get("Cache-Control", ""))
"""


def test_static_files_have_hashed_names_and_long_cache_headers(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SECURE_"))}
    env.update(
        DJANGO_SECRET_KEY="x" * 50,
        DJANGO_SETTINGS_MODULE="identity.settings",
        SITE_URL="https://id.example.com",
        DJANGO_ALLOWED_HOSTS="testserver",
    )
    result = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    hashed, plain = result.stdout.strip().split(" | ")
    status, cache = hashed.split(" ", 1)
    assert status == "200"
    assert "immutable" in cache and "max-age=315360000" in cache
    assert plain.startswith("200") and "immutable" not in plain
