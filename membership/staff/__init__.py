"""Staff console: password sign-in with roles, the audit log, and the admin tools built on them."""
