"""The secrets and addresses every test run shares."""

from __future__ import annotations

import os
from typing import Any

WEBHOOK_SECRET = "whsec_test_secret_for_tests_only"
REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")
STRIPE_KEY = "sk_test_membership_tests"


def app_settings(uri: str, api_base: str, **extra: Any) -> dict[str, Any]:
    """The app settings every test app starts from: the test database, the double (or no Stripe at all), and
    `extra` on top."""
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": uri,
        "SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
        "STRIPE_SECRET_KEY": STRIPE_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": api_base,
        "STRIPE_TIMEOUT_SECONDS": 5,
        # Tests make Stripe calls back to back; the pace's own tests set their own rate.
        "STRIPE_MAX_REQUESTS_PER_SECOND": 1000,
        "PUBLIC_URL": "http://testserver.local",
        "NEWSROOM_NAME": "Kyiv Independent Test",
        # The production scrypt cost takes ~0.15 s a hash; the code path is the same at a cost tests can afford.
        "STAFF_PASSWORD_HASH": "scrypt:1024:8:1",
        **extra,
    }
