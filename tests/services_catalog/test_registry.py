from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from services_catalog import registry


def write(folder: Path, name: str, text: str) -> None:
    (folder / f"{name}.yaml").write_text(text)


GOOD = """link_name: {name}
name: Extra
auth_type: api_key
parameters: [{{key: X-Key, display_name: Key}}]
base_url: https://api.extra.example
"""


def test_extra_catalog_dirs_add_services(tmp_path, settings):
    write(tmp_path, "extra_api", GOOD.format(name="extra_api"))
    settings.CONNECTIONS_CATALOG_DIRS = [str(tmp_path)]
    registry.reset()
    try:
        assert "extra_api" in registry.catalog()
        assert "zoho" in registry.catalog()
    finally:
        settings.CONNECTIONS_CATALOG_DIRS = []
        registry.reset()


def test_a_bad_file_names_file_and_field(tmp_path):
    write(tmp_path, "broken", GOOD.format(name="broken").replace("api_key", "telepathy"))
    with pytest.raises(ImproperlyConfigured) as err:
        registry.load([tmp_path])
    assert "broken.yaml" in str(err.value) and "auth_type" in str(err.value)


def test_duplicates_are_refused(tmp_path):
    write(tmp_path, "zoho", GOOD.format(name="zoho"))
    with pytest.raises(ImproperlyConfigured) as err:
        registry.load([registry.BUILTIN_DIR, tmp_path])
    assert "already defined" in str(err.value)


def test_file_name_must_match_link_name(tmp_path):
    write(tmp_path, "other", GOOD.format(name="extra_api"))
    with pytest.raises(ImproperlyConfigured) as err:
        registry.load([tmp_path])
    assert "link_name" in str(err.value)


def test_bad_catalog_stops_django_start_up(tmp_path):
    import os
    import subprocess
    import sys

    write(tmp_path, "broken", GOOD.format(name="broken").replace("https://api", "ftp://api"))
    env = {**os.environ, "CONNECTIONS_CATALOG_DIRS": str(tmp_path), "DJANGO_SETTINGS_MODULE": "settings.test"}
    result = subprocess.run([sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2])
    assert result.returncode != 0
    assert "broken.yaml" in result.stderr and "base_url" in result.stderr
