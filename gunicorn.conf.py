"""gunicorn reads this file from the directory it starts in: a checkout uses the package's configuration, as an
installed package does with `gunicorn -c python:membership.gunicorn_config` (see that module)."""

from membership.gunicorn_config import *  # noqa: F403
