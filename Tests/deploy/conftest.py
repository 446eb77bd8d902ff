"""Fixtures for the deployment tests live in deploy_helpers.py (a plain module, so
that `from deploy_helpers import …` cannot collide with Tests/integration's conftest
when both folders run in one pytest session)."""

from deploy_helpers import bin_dir, deb, installed_root, tools  # noqa: F401  (fixtures)
