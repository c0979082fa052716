"""Which sinks to build, from LiteLLM's config keys and environment variables.

`general_settings.alerting: ["slack", "webhook", "email"]` turns sinks on, as in
LiteLLM; `alert_types` (when given) must include "budget_alerts";
`alert_to_webhook_url.budget_alerts` overrides the Slack URL. Secrets come from the
environment: SLACK_WEBHOOK_URL (else ALERTING_WEBHOOK_URL), WEBHOOK_URL, and
SMTP_HOST, SMTP_PORT, SMTP_USERNAME, SMTP_PASSWORD, SMTP_SENDER_EMAIL, SMTP_TLS.
Email recipients: ALERT_EMAIL_TO (comma-separated; ours, LiteLLM mails key owners).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import msgspec

from tianji_spend_worker.alerts.sinks import AlertSink, EmailSink, SlackSink, WebhookSink

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tianji_common.config.model import ProxyConfig

__all__ = ["build_sinks", "sinks_from_config"]

logger = logging.getLogger(__name__)
_FALSE = {"0", "false", "no", "off"}


def sinks_from_config(cfg: ProxyConfig | None, env: Mapping[str, str]) -> list[AlertSink]:
    """The sinks a loaded config file (or none: environment only) asks for."""
    if cfg is None:
        return build_sinks({}, env)
    general = cfg.general_settings
    return build_sinks({**general.extra, **msgspec.structs.asdict(general)}, env)


def build_sinks(general: Mapping[str, Any], env: Mapping[str, str]) -> list[AlertSink]:
    """The configured sinks; one that lacks its settings is skipped with a warning."""
    alerting = general.get("alerting") or []
    if not isinstance(alerting, list):
        alerting = [alerting]
    types = general.get("alert_types")
    if isinstance(types, list) and "budget_alerts" not in types:
        return []
    sinks: list[AlertSink] = []
    for name in dict.fromkeys(str(a) for a in alerting):
        sink = _build(name, general, env)
        if sink is not None:
            sinks.append(sink)
    return sinks


def _build(name: str, general: Mapping[str, Any], env: Mapping[str, str]) -> AlertSink | None:
    if name == "slack":
        url = _override(general) or env.get("SLACK_WEBHOOK_URL") or env.get("ALERTING_WEBHOOK_URL")
        if url:
            return SlackSink(url)
        _missing(name, "SLACK_WEBHOOK_URL")
        return None
    if name == "webhook":
        url = env.get("WEBHOOK_URL")
        if url:
            return WebhookSink(url)
        _missing(name, "WEBHOOK_URL")
        return None
    if name == "email":
        return _email(env)
    logger.info("alerting %r is not a budget-alert sink here; ignored", name)
    return None


def _override(general: Mapping[str, Any]) -> str | None:
    mapping = general.get("alert_to_webhook_url")
    if not isinstance(mapping, dict):
        return None
    value = mapping.get("budget_alerts")
    if isinstance(value, list):
        value = value[0] if value else None
    return str(value) if value else None


def _email(env: Mapping[str, str]) -> AlertSink | None:
    host, sender = env.get("SMTP_HOST"), env.get("SMTP_SENDER_EMAIL")
    recipients = tuple(r.strip() for r in env.get("ALERT_EMAIL_TO", "").split(",") if r.strip())
    if not (host and sender and recipients):
        _missing("email", "SMTP_HOST, SMTP_SENDER_EMAIL and ALERT_EMAIL_TO")
        return None
    try:
        port = int(env.get("SMTP_PORT", "587"))
    except ValueError:
        _missing("email", "a numeric SMTP_PORT")
        return None
    return EmailSink(
        host=host,
        port=port,
        sender=sender,
        recipients=recipients,
        username=env.get("SMTP_USERNAME") or None,
        password=env.get("SMTP_PASSWORD") or None,
        starttls=env.get("SMTP_TLS", "true").lower() not in _FALSE,
    )


def _missing(name: str, what: str) -> None:
    logger.warning(
        "alerting %r is configured but %s is not set; %s alerts are off", name, what, name
    )
