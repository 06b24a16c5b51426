"""Packaging beyond what pyproject.toml can declare: the top-level ``migrations/``
folder ships inside the wheel as ``syncworker/migrations``.

pyproject.toml cannot list discovered packages and a package mapped from another
folder at once, hence this file; everything else is in pyproject.toml.
"""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["syncworker", "syncworker.*"]),
        "syncworker.migrations",
        "syncworker.migrations.versions",
    ],
    package_dir={"syncworker.migrations": "migrations"},
    package_data={"syncworker.migrations": ["script.py.mako"]},
)
