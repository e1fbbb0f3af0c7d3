"""The package build: pyproject.toml holds the metadata; this file only says which files go in the wheel.

`templates/` and `migrations/` live at the top of the repository (see docs/architecture.md) and are mapped into
the wheel as `membership/templates` and `membership/migrations`, beside `membership/static`, so an installed
package finds them where a checkout does (`membership.paths`).
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["membership", "membership.*", "stripe_double", "stripe_double.*"]),
              "membership.templates", "membership.migrations"],
    package_dir={"membership.templates": "templates", "membership.migrations": "migrations"},
    package_data={
        "membership": ["static/*", "translations/*/LC_MESSAGES/*"],
        "membership.templates": ["**/*"],
        "membership.migrations": ["README", "alembic.ini", "script.py.mako", "versions/*.py"],
    },
    exclude_package_data={"": ["__pycache__/*", "*.pyc"]},
)
