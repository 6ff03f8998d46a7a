"""Catalog data in words a person reads: ``{placeholders}`` filled or named, choices named.

The catalog keeps a value that varies per connection as ``{name}`` (``www.zohoapis.{dc}``);
a page never shows those braces. Before a value is chosen a placeholder reads as the
field's name (``‹dc›``) and the page fills it in as the person picks; after, it is the
chosen value. Choices are shown with the host they lead to and the name the catalog gives
them (``choice_labels``).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from services_catalog.schema import ConfigField, ServiceDefinition

PLACEHOLDER_RE = re.compile(r"\{([a-z][a-z0-9_]*)\}")

def has_placeholder(text: str | None) -> bool:
    return bool(text and PLACEHOLDER_RE.search(text))


def filled(text: str | None, config: dict | None = None) -> str:
    """Return ``text`` with each ``{name}`` replaced by its value in ``config``, or by ‹name›."""
    if not text:
        return ""
    config = config or {}
    return PLACEHOLDER_RE.sub(lambda m: config.get(m.group(1)) or f"‹{m.group(1).replace('_', ' ')}›", text)


def _host(text: str) -> str:
    return (urlsplit(text).hostname or "") if "://" in text else text


def _template_for(service: ServiceDefinition, name: str) -> str | None:
    """The first host of the service that depends on config field ``name``."""
    for text in (service.base_url, *service.allowed_hosts):
        if text and "{" + name + "}" in text:
            return _host(text)
    return None


def choice_label(service: ServiceDefinition, field: ConfigField, value: str) -> str:
    """A readable name for one choice: "Europe (zohoapis.eu)", or the host it leads to."""
    template = _template_for(service, field.name)
    host = filled(template, {field.name: value}).removeprefix("www.") if template else ""
    region = field.choice_labels.get(value)
    if region:
        return f"{region} ({host})" if host else region
    return host or value


def hosts(service: ServiceDefinition, config: dict | None = None) -> list[dict]:
    """The service's allowed hosts as a page shows them: text, and the template if it varies."""
    return [
        {"text": filled(h, config), "template": h if has_placeholder(h) else ""}
        for h in service.allowed_hosts
    ]


def short_name(field: ConfigField) -> str:
    """A config field's name without its explanation in brackets ("Data centre")."""
    return re.sub(r"\s*\(.*\)\s*$", "", field.display_name) or field.display_name


def varies_with(service: ServiceDefinition) -> str:
    """Names of the config fields the hosts depend on ("Data centre"), or ""."""
    names = {m for h in service.allowed_hosts for m in PLACEHOLDER_RE.findall(h)}
    return ", ".join(short_name(f) for f in service.config_fields if f.name in names)


def tile_text(service: ServiceDefinition) -> str:
    """The line under a service's name in the catalog."""
    return service.description or filled(service.base_url)
