"""The package build: pyproject.toml holds the metadata; this file only says which files go in the wheel.

`templates/` and `migrations/` live at the top of the repository (see docs/architecture.md) and are mapped into
the wheel as `membership/templates` and `membership/migrations`, beside `membership/static`, so an installed
package finds them where a checkout does (`membership.paths`).

Every folder that goes in the wheel is named as a package, data-only ones too (templates, static files, catalogs,
the Stripe double's pages): setuptools includes the files of a folder it was not told about only for now, and
warns that it will stop. Each package takes every file in its folder; compiled Python never goes in.
"""

from setuptools import find_namespace_packages, setup


def _folders(package: str, directory: str) -> list[str]:
    """`package` (the folder `directory`) and every folder under it, as packages."""
    return [package, *(f"{package}.{name}" for name in find_namespace_packages(where=directory,
                                                                             exclude=["*__pycache__*"]))]


setup(
    packages=[*find_namespace_packages(include=["membership", "membership.*", "stripe_double", "stripe_double.*"],
                                       exclude=["*__pycache__*"]),
              *_folders("membership.templates", "templates"), *_folders("membership.migrations", "migrations")],
    package_dir={"membership.templates": "templates", "membership.migrations": "migrations"},
    package_data={"": ["*"]},
    exclude_package_data={"": ["*.pyc"]},
)
