"""Every write path that can change a hot cache entry bumps a version.

Saves and deletes send signals, which hot_cache.connect_signals turns into bumps (checked
per model below). ``QuerySet.update()``, bulk writes and raw SQL send none: this test
walks the source for them and fails on any whose function neither calls ``hot_cache`` nor
is listed here with the reason it changes nothing an entry is judged by. A new write path
that forgets the bump fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save
from django.dispatch.dispatcher import _make_id

from connections_app.models import ApiToken, Connection, CustomService, Membership, Organisation, ServiceClient

APP = Path(__file__).resolve().parents[2] / "connections_app"
CACHED = {"Connection", "ApiToken", "Membership", "CustomService", "ServiceClient", "Organisation", "User", "model"}
WRITES = {"update", "bulk_update", "bulk_create", "raw"}

# (file, function): why its write needs no bump.
NO_BUMP = {
    ("api/authentication.py", "membership_for_key"): "last_used_at: the entry is updated in place (hot_cache.token_used)",
    ("tokens.py", "_release_lease"): "the refresh lease: invoke takes it from the database, never from an entry",
    ("tokens.py", "<module>"): "_LEASE, the refresh lease (raw UPDATE ... RETURNING), as above",
    ("tasks.py", "refresh_due"): "refresh_queued_at: bookkeeping of the sweep, read by no invoke",
    ("auth/token_calls.py", "request"): "kwargs.update(...): a dict, not a queryset",
    ("web/views.py", "connection_new"): "context.update(...): a dict, not a queryset",
    ("oauth_flow.py", "start"): "AuthorizeLink.used_at: a consent link, not cached",
    ("oauth_flow.py", "_consume_state"): "OAuthState.used_at: consent state, not cached",
}


def write_sites():
    for path in sorted(APP.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text())
        for statement in tree.body:  # module level: SQL kept in constants
            if not isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if any(_is_raw_update(node) for node in ast.walk(statement)):
                    yield str(path.relative_to(APP)), "<module>", False
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            source = ast.get_source_segment(path.read_text(), function) or ""
            for node in ast.walk(function):
                if _is_cached_write(node) or _is_raw_update(node):
                    yield str(path.relative_to(APP)), function.name, "hot_cache." in source


def _is_cached_write(node) -> bool:
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in WRITES):
        return False
    if node.func.attr in ("update", "bulk_update") and node.keywords and not node.args:
        return True  # QuerySet.update(field=...) on any queryset, however it was built
    chain = node.func.value
    while isinstance(chain, (ast.Call, ast.Attribute)):
        if isinstance(chain, ast.Attribute) and chain.attr == "objects" and isinstance(chain.value, ast.Name):
            return chain.value.id in CACHED
        chain = chain.func if isinstance(chain, ast.Call) else chain.value
    return False


def _is_raw_update(node) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.lstrip().startswith("UPDATE ")


def test_every_update_of_a_cached_row_bumps_a_version():
    sites = list(write_sites())
    assert len(sites) >= 8, sites  # the walker finds them (tokens.py alone has five)
    missing = [(f, fn) for f, fn, bumps in sites if not bumps and (f, fn) not in NO_BUMP]
    assert not missing, f"write paths without hot_cache.changed(): {missing}"
    assert set(NO_BUMP) <= {(f, fn) for f, fn, _ in sites}, "a listed exception no longer writes: drop it"


def test_the_walker_sees_a_missing_bump():
    for code in (
        "def f(pk):\n    Connection.objects.filter(pk=pk).update(status='revoked')\n",
        "def f(holders):\n    holders.update(status='revoked')\n",  # a queryset passed in
        "def f(c):\n    _row(c).filter(x=None).update(x=1)\n",
    ):
        assert any(_is_cached_write(node) for node in ast.walk(ast.parse(code))), code


@pytest.mark.parametrize("model", [ApiToken, Connection, CustomService, Membership, Organisation, ServiceClient, "user"])
def test_saves_and_deletes_of_each_cached_model_bump(model):
    model = get_user_model() if model == "user" else model
    for signal in (post_save, post_delete):
        uids = [item[0][0] for item in signal.receivers if item[0][1] == _make_id(model)]
        assert any(str(uid).startswith("hot_cache:") for uid in uids), (model, signal)
