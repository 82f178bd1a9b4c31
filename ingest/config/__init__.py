"""Configuration: one TOML file read once at start into frozen dataclasses.

Every key is known: an unknown key, a missing section or a bad value stops start-up with one
clear line (``ConfigError``). Secrets never live in the TOML; they are resolved from environment
variables or secret files when the config is loaded, so a missing secret is also a start-up error.

- ``model``: the dataclasses (``AppConfig``, ``CampaignSetup`` per campaign served, the sections).
- ``values``: reading one value or secret; ``sections``: one parser per table; ``load``: the file, both forms
  (one campaign, or ``[[campaigns]]``).
"""

from checks.errors import ConfigError  # re-exported: callers import it from here
from ingest.config.load import (CONFIG_ENV, DEFAULT_CONFIG, REPO_ROOT, example_campaign_toml, load_config,
                                load_toml)
from ingest.config.model import (LINK_PROVIDER_HOSTS, AppConfig, CampaignConfig, CampaignSetup, ConsoleConfig,
                                 ConsoleUser, ImapSettings, IntakeSettings, LimitSettings, LinkSettings,
                                 SmtpSettings)
from ingest.config.sections import parse_campaign
from ingest.config.values import (CONSOLE_SECRET, DATABASE_SECRET, IMAP_SECRET, MESSAGE_ID_KEY_SECRET, SMTP_SECRET,
                                  SecretSpec, Secrets, _database_url)

__all__ = [
    "AppConfig", "CONFIG_ENV", "CONSOLE_SECRET", "CampaignConfig", "CampaignSetup", "ConfigError", "ConsoleConfig",
    "ConsoleUser", "DATABASE_SECRET", "DEFAULT_CONFIG", "IMAP_SECRET", "ImapSettings", "IntakeSettings",
    "LINK_PROVIDER_HOSTS", "LimitSettings", "LinkSettings", "MESSAGE_ID_KEY_SECRET", "REPO_ROOT", "SMTP_SECRET",
    "SecretSpec", "Secrets", "SmtpSettings", "_database_url", "example_campaign_toml", "load_config", "load_toml",
    "parse_campaign",
]
