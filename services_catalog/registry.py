"""The catalog of preconfigured services, loaded once from YAML files.

Files come from ``services_catalog/providers`` plus every folder in
``CONNECTIONS_CATALOG_DIRS``. A bad file or a duplicate link name raises
``ImproperlyConfigured`` naming the file and the field, so start-up fails loudly.
"""

from __future__ import annotations

import functools
from pathlib import Path

import yaml
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .schema import SchemaError, ServiceDefinition

BUILTIN_DIR = Path(__file__).resolve().parent / "providers"

# libyaml's parser when it is there (8x faster for the whole catalog), else pure Python.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def catalog_dirs() -> list[Path]:
    return [BUILTIN_DIR, *(Path(d) for d in settings.CONNECTIONS_CATALOG_DIRS)]


def load_file(path: Path, *, https_only: bool = True) -> ServiceDefinition:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 - a safe loader
    except (OSError, yaml.YAMLError) as exc:
        raise ImproperlyConfigured(f"Catalog file {path}: cannot be read as YAML ({exc}).") from None
    try:
        service = ServiceDefinition.from_dict(data, source=str(path), https_only=https_only)
    except SchemaError as exc:
        raise ImproperlyConfigured(f"Catalog file {exc.source}: field {exc.field}: {exc.message}") from None
    if path.stem != service.link_name:
        raise ImproperlyConfigured(
            f"Catalog file {path}: field link_name: {service.link_name!r} must equal the file name {path.stem!r}."
        )
    return service


def load(dirs: list[Path] | None = None) -> dict[str, ServiceDefinition]:
    """Read and validate every catalog file; return services by link name."""
    services: dict[str, ServiceDefinition] = {}
    for directory in dirs if dirs is not None else catalog_dirs():
        if not directory.is_dir():
            raise ImproperlyConfigured(f"CONNECTIONS_CATALOG_DIRS: {directory} is not a folder.")
        for path in sorted(directory.glob("*.yaml")):
            service = load_file(path, https_only=directory == BUILTIN_DIR)  # operator folders: like custom services
            if service.link_name in services:
                raise ImproperlyConfigured(
                    f"Catalog file {path}: field link_name: {service.link_name!r} is already defined "
                    f"by {services[service.link_name].source}."
                )
            services[service.link_name] = service
    return dict(sorted(services.items()))


@functools.cache
def catalog() -> dict[str, ServiceDefinition]:
    """Return the loaded catalog (loaded on first use, then kept)."""
    return load()


def get(link_name: str) -> ServiceDefinition | None:
    return catalog().get(link_name)


def reset() -> None:
    """Forget the loaded catalog (tests that change CONNECTIONS_CATALOG_DIRS call this)."""
    catalog.cache_clear()
