"""Fixtures for the identity tests (the production-like stack they start is in tests/stack.py)."""

from __future__ import annotations

import os

import pytest

from tests.processes import point_celery_at


@pytest.fixture
def celery_on(settings):
    """Point this process's Celery publisher at a private broker; back at the test broker afterwards."""
    original = os.environ.get("CELERY_BROKER_URL")
    try:
        yield point_celery_at
    finally:
        point_celery_at(settings.CELERY_BROKER_URL)
        if original is not None:
            os.environ["CELERY_BROKER_URL"] = original
