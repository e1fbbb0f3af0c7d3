"""The secrets and addresses every test run shares."""

from __future__ import annotations

import os

WEBHOOK_SECRET = "whsec_test_secret_for_tests_only"
REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")
STRIPE_KEY = "sk_test_membership_tests"
