"""Where the files shipped with case-intake are: in a source checkout and in an installed wheel.

The design card keeps ``templates/``, ``campaigns/`` and ``config.example.toml`` at the top of the checkout;
the wheel carries them as package data (pyproject.toml maps them to ``notify/templates``,
``ingest/campaigns`` and ``ingest/example``). Every lookup goes through here, so both layouts work and
nothing points into a checkout that an installed ``intake`` does not have.
"""

from __future__ import annotations

from pathlib import Path

# The folder holding the packages: a checkout's root, or site-packages for an installed wheel.
PACKAGES_ROOT = Path(__file__).resolve().parent.parent


def _shipped(installed: str, in_checkout: str) -> Path:
    path = PACKAGES_ROOT / installed
    return path if path.exists() else PACKAGES_ROOT / in_checkout


def templates_dir() -> Path:
    """The reply templates (Jinja2) shipped with case-intake: the default of ``intake.templates_dir``."""
    return _shipped("notify/templates", "templates")


def campaigns_dir() -> Path:
    """The shipped campaign profiles (``campaign_file = "campaigns/NAME.toml"``)."""
    return _shipped("ingest/campaigns", "campaigns")


def example_config() -> Path:
    """The documented example configuration (the 2025 call in full)."""
    return _shipped("ingest/example/config.example.toml", "config.example.toml")
