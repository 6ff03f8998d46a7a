"""The embedded default: one machine, SQLite under var/, generated secrets."""

from .base import *  # noqa: F401,F403
from .base import env

DEBUG = env.get_bool("DJANGO_DEBUG", False)
