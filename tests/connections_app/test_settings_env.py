"""settings/env.py: a setting read from the environment is either valid or stops start-up."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from settings import env


@pytest.mark.parametrize("raw, expected", [("0", 0.0), ("0.25", 0.25), ("2", 2.0)])
def test_get_float_reads_numbers_of_zero_or_more(monkeypatch, raw, expected):
    monkeypatch.setenv("X_SECONDS", raw)
    assert env.get_float("X_SECONDS", 1.0) == expected


def test_get_float_default_when_unset_or_empty(monkeypatch):
    monkeypatch.delenv("X_SECONDS", raising=False)
    assert env.get_float("X_SECONDS", 1.5) == 1.5
    monkeypatch.setenv("X_SECONDS", "")
    assert env.get_float("X_SECONDS", 1.5) == 1.5


@pytest.mark.parametrize("raw", ["-1", "soon", "nan", "inf"])
def test_get_float_refuses_anything_else_naming_the_variable(monkeypatch, raw):
    monkeypatch.setenv("X_SECONDS", raw)
    with pytest.raises(ImproperlyConfigured, match="X_SECONDS must be a number of 0 or more"):
        env.get_float("X_SECONDS", 1.0)
