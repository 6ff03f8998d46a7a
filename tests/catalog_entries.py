"""A fixture-friendly way to add preconfigured services for one test (config fields and
values kept from the provider are only for catalog entries)."""

from __future__ import annotations

import pytest
import yaml


@pytest.fixture
def catalog_entry(tmp_path, settings):
    """Return ``add(definition)``: write it as a catalog file in an extra catalog folder."""
    from services_catalog import registry  # noqa: PLC0415

    folder = tmp_path / "catalog"
    folder.mkdir()
    settings.CONNECTIONS_CATALOG_DIRS = [str(folder)]

    def add(data: dict) -> dict:
        (folder / f"{data['link_name']}.yaml").write_text(yaml.safe_dump(data))
        registry.reset()
        return data

    yield add
    settings.CONNECTIONS_CATALOG_DIRS = []
    registry.reset()
