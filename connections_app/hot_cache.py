"""The invoke hot path's per-process cache, kept exact by version numbers in Redis.

Each web process keeps, for invoke through the REST API, the rows its lookups read: the
API token with its membership, user and organisation (by key hash), and the connection
with its custom service (by organisation and link name). Credentials stay as stored
(encrypted) and are decrypted per call, as on the database path. Nothing secret goes to
Redis: only version values (random) and the throttle's counters.

Validity: every entry remembers the versions it was read under, of its organisation and
its token or connection, plus Redis's ``boot`` value (set once, so a Redis that lost its
data invalidates every entry). One Redis command per invoke (a Lua script) counts the
throttle window and reads those versions; an entry is used only when all of them are
unchanged. Every write that can change what an entry says gives a version a new unique
value once its transaction commits (``changed``; ``connect_signals`` below and the
``.update()`` call sites call it), so the next call in any process, on any server, reads
the database again. (Unique values, not counts: a version key Redis lost and set again
never returns to a value an entry remembers.)

Why that is exact: versions are read *before* the rows they are stored with. A write that
commits before the read is seen by the read; one that commits after it bumps a version
that differs from the stored one on the next call. Redis unreachable (or the cache not
Redis: the embedded default): the database path, as before.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from redis.exceptions import NoScriptError

from . import rate_limit, selectors
from .models import ApiToken, Connection, CustomService, Membership, Organisation, ServiceClient
from .token_limits import connection_missing

logger = logging.getLogger(__name__)

NOT_SERVED = object()  # the caller takes the database path
MAX_ENTRIES = 50_000  # per map; past it the map starts again (a bound, not a policy)
BOOT = "hv:boot"
LINK_NAME_BODY_LIMIT = 64 * 1024  # bodies up to this size are read for their connection


def _org(pk) -> str:
    return f"hv:org:{pk}"


def _token(pk) -> str:
    return f"hv:tok:{pk}"


def _conn(pk) -> str:
    return f"hv:conn:{pk}"


@dataclass
class _Entry:
    versions: tuple
    values: tuple


@dataclass
class Check:
    """What one request's round trip read: the versions its entries are judged by."""

    boot: bytes
    organisation_id: int
    organisation_version: bytes | None
    link_name: str | None
    connection_id: int | None
    connection_version: bytes | None


# Per process, shared by its threads (single dict operations are atomic).
_token_ids: dict[str, tuple[int, int]] = {}  # key hash -> (token id, organisation id): never change
_tokens: dict[int, _Entry] = {}
_token_last_used: dict[int, object] = {}
_connection_ids: dict[tuple[int, str], int] = {}  # (organisation id, link name) -> connection id
_connections: dict[int, _Entry] = {}
_lock = threading.Lock()


def clear() -> None:
    """Forget every entry of this process (tests; a process that lost track)."""
    for mapping in (_token_ids, _tokens, _token_last_used, _connection_ids, _connections):
        mapping.clear()


def _put(mapping: dict, key, value) -> None:
    with _lock:
        if len(mapping) >= MAX_ENTRIES:
            mapping.clear()
        mapping[key] = value


# -- reading -----------------------------------------------------------------------------
def token_membership(key_hash: str, request, *, read: Callable[[str], tuple | None], assemble: Callable):
    """(token, membership) for an invoke through the REST API, None for an unknown key, or
    ``NOT_SERVED`` when the hot path does not apply (another route, no Redis, Redis down).

    The API layer owns how a token is read: ``read(key_hash)`` is its one query's row (or
    None), ``assemble(row)`` the (token, membership) built from it. This module keeps rows
    and judges them; it imports nothing above itself.

    Makes the request's one Redis round trip: counts the organisation's throttle window
    (the count is left on the request for ``InvokeThrottle``) and reads the versions."""
    http_request = getattr(request, "_request", request)
    match = getattr(http_request, "resolver_match", None)
    if match is None or match.url_name != "invoke":
        return NOT_SERVED
    client = rate_limit.redis_client()
    if client is None:
        return NOT_SERVED
    link_name = _link_name(http_request)
    ids = _token_ids.get(key_hash)
    keys = [BOOT]
    window = None
    connection_id = None
    if ids is not None:
        token_id, organisation_id = ids
        keys += [_org(organisation_id), _token(token_id)]
        connection_id = _connection_ids.get((organisation_id, link_name)) if link_name else None
        if connection_id is not None:
            keys.append(_conn(connection_id))
        window = rate_limit.invoke_window(organisation_id, time.time())
    try:
        count, versions = _round_trip(client, keys, window)
    except Exception as exc:  # noqa: BLE001 - any Redis error: the database path decides
        logger.warning("invoke hot cache skipped: Redis unavailable (%s)", type(exc).__name__)
        return NOT_SERVED
    if window is not None:
        http_request.invoke_throttle = (count, window)
    if ids is None:  # first sight of this key here: learn its ids, serve from the database
        values = read(key_hash)
        if values is None:
            return None
        found = assemble(values)
        _put(_token_ids, key_hash, (found[0].pk, found[1].organisation_id))
        return found
    boot, organisation_version, token_version = versions[0], versions[1], versions[2]
    wanted = (boot, organisation_version, token_version)
    entry = _tokens.get(token_id)
    if entry is not None and entry.versions == wanted:
        token, membership = assemble(entry.values)
        token.last_used_at = _token_last_used.get(token_id, token.last_used_at)
    else:
        values = read(key_hash)  # read after the versions: see the module's docstring
        if values is None:
            return None
        token, membership = assemble(values)
        if token.pk == token_id and membership.organisation_id == organisation_id:
            _put(_tokens, token_id, _Entry(wanted, values))
            _token_last_used.pop(token_id, None)
        else:
            _put(_token_ids, key_hash, (token.pk, membership.organisation_id))
    membership.organisation.hot_check = Check(
        boot=boot, organisation_id=organisation_id, organisation_version=organisation_version, link_name=link_name,
        connection_id=connection_id, connection_version=versions[3] if connection_id is not None else None,
    )
    return token, membership


def token_used(token_id: int, at) -> None:
    """The token's ``last_used_at`` was just written: entries show it from now on."""
    if token_id in _tokens:
        _put(_token_last_used, token_id, at)


def connection_get(*, organisation, link_name: str):
    """``selectors.connection_get(..., annotate=False)``, served from this process's cache
    when this request's round trip found the entry current."""

    check = getattr(organisation, "hot_check", None)
    if check is None or check.link_name != link_name or check.organisation_id != organisation.pk:
        return selectors.connection_get(organisation=organisation, link_name=link_name, annotate=False)
    wanted = (check.boot, check.organisation_version, check.connection_version)
    entry = _connections.get(check.connection_id) if check.connection_id is not None else None
    if entry is not None and entry.versions == wanted:
        values = entry.values
    else:
        values = selectors.connection_values(organisation_id=organisation.pk, link_name=link_name)  # after the versions
        if values is None:
            raise connection_missing(link_name)
        if values[0][0] == check.connection_id:
            _put(_connections, check.connection_id, _Entry(wanted, values))
        else:  # first sight, or another connection has the link name now
            _put(_connection_ids, (organisation.pk, link_name), values[0][0])
    connection = selectors.connection_assemble(values)
    connection.organisation = organisation
    return connection


def _link_name(http_request) -> str | None:
    """The ``connection`` of an invoke body (read again by the view's parser; a body that
    is not a JSON object has none here, and the view answers it as before)."""
    if http_request.content_type != "application/json":
        return None
    try:
        if int(http_request.META.get("CONTENT_LENGTH") or 0) > LINK_NAME_BODY_LIMIT:
            return None  # a large body is read once, by the view (and .body has a size limit)
        data = json.loads(http_request.body)
    except (ValueError, UnicodeDecodeError):
        return None
    name = data.get("connection") if isinstance(data, dict) else None
    return name if isinstance(name, str) else None


# One command, so one round trip and one reply to parse: a new ``boot`` when Redis has none
# (a Redis that lost its data), the throttle window counted when there is one, the versions.
_ROUND_TRIP = """
redis.call('SET', KEYS[1], ARGV[1], 'NX')
local count = -1
if ARGV[2] ~= '' then
  redis.call('SET', KEYS[2], 0, 'EX', ARGV[2], 'NX')
  count = redis.call('INCR', KEYS[2])
end
return {count, redis.call('MGET', KEYS[1], unpack(KEYS, 3))}
"""


def _round_trip(client, keys: list[str], window) -> tuple[int, list]:
    # The cache's own prefix and version (``rate_limit.redis_key``), without its check of
    # each key for memcached's rules: these keys are ours and fixed.
    prefixed = caches[DEFAULT_CACHE_ALIAS].make_key
    throttle_key = prefixed(window[0] if window is not None else "hv:none")
    full = [prefixed(BOOT), throttle_key, *(prefixed(k) for k in keys[1:])]
    args = [_unique(), str(window[2] + 1) if window is not None else ""]
    # EVALSHA through execute_command: redis-py's Script object and its evalsha wrapper
    # inspect their arguments on every call, a cost on the one command the hot path makes.
    try:
        return client.execute_command("EVALSHA", _ROUND_TRIP_SHA, len(full), *full, *args)
    except NoScriptError:  # a Redis that restarted or never saw it: EVAL loads it as well
        return client.execute_command("EVAL", _ROUND_TRIP, len(full), *full, *args)


_ROUND_TRIP_SHA = hashlib.sha1(_ROUND_TRIP.encode()).hexdigest()  # noqa: S324 - Redis names scripts by SHA-1


# -- writing -----------------------------------------------------------------------------
def changed(*, organisation_id: int | None = None, connection_id: int | None = None, token_id: int | None = None) -> None:
    """Give new versions to of what a write changed, once the current transaction commits (at
    once outside one). Every write path that can change a cached entry calls this: the
    organisation for its memberships, users, services and clients; the connection or the
    token for itself."""
    keys = []
    if organisation_id is not None:
        keys.append(_org(organisation_id))
    if connection_id is not None:
        keys.append(_conn(connection_id))
    if token_id is not None:
        keys.append(_token(token_id))
    if keys:
        transaction.on_commit(lambda: _bump(keys))


def everything_changed() -> None:
    """Invalidate every entry in every process (a new ``boot``): key rotation and the like."""
    transaction.on_commit(lambda: _bump([], boot=True))


def _bump(keys: list[str], *, boot: bool = False) -> None:
    client = rate_limit.redis_client()
    if client is None:
        return
    try:
        _send_bumps(client, keys, boot)
    except Exception as exc:  # noqa: BLE001
        # The write is committed. While Redis is down no process trusts an entry (none can
        # read a version); the bump is retried until Redis answers, before it serves again
        # as far as this process can tell (docs/ARCHITECTURE.md, "Hot cache", the limit).
        clear()
        logger.error("hot cache: could not record a change in Redis (%s); retrying", type(exc).__name__)
        _retry_later(keys, boot)


def _send_bumps(client, keys: list[str], boot: bool) -> None:
    """A new value for each key: unique, not a count, so a key Redis lost and set again
    can never come back to a value an entry remembers."""
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.set(rate_limit.redis_key(key), _unique())
    if boot:
        pipe.delete(rate_limit.redis_key(BOOT))
    pipe.execute()


def _unique() -> str:
    """A value no other call, process or server gives: this process's random id and a count
    (no system call per request, unlike drawing random bits each time)."""
    return f"{_PROCESS_ID}-{next(_counter):x}"


_PROCESS_ID = secrets.token_hex(8)
_counter = itertools.count()


def _new_process_id() -> None:
    global _PROCESS_ID, _counter  # noqa: PLW0603 - a forked child must not share its parent's id
    _PROCESS_ID, _counter = secrets.token_hex(8), itertools.count()


os.register_at_fork(after_in_child=_new_process_id)


_pending: list[tuple[list[str], bool]] = []


def _retry_later(keys: list[str], boot: bool) -> None:
    with _lock:
        _pending.append((keys, boot))
        if len(_pending) > 1:
            return  # a retry thread runs already
    threading.Thread(target=_retry_pending, name="hot-cache-bump-retry", daemon=True).start()


def _retry_pending(interval: float = 0.2) -> None:
    while True:
        time.sleep(interval)
        with _lock:
            if not _pending:
                return  # cleared meanwhile (tests)
            keys = [k for ks, _ in _pending for k in ks]
            boot = any(b for _, b in _pending)
        client = rate_limit.redis_client()
        try:
            _send_bumps(client, keys, boot)
        except Exception:  # noqa: BLE001, S112 - still down: try again
            continue
        with _lock:
            _pending.clear()
        logger.warning("hot cache: recorded %d change(s) in Redis after it came back", len(keys))
        return


# -- the writes that saves and deletes make ------------------------------------------------
def connect_signals() -> None:
    """Saves and deletes (the ORM's, the admin's, cascades) of what entries hold bump its
    version. ``QuerySet.update()`` sends no signal: its call sites call ``changed``
    themselves (tests/connections_app/test_hot_cache_writes.py finds them all)."""

    def on_token(instance, **_):
        changed(token_id=instance.pk)

    def on_connection(instance, **_):
        changed(connection_id=instance.pk)

    def on_organisation(instance, **_):
        changed(organisation_id=instance.pk)

    def on_org_row(instance, **_):  # memberships, custom services, service clients
        changed(organisation_id=instance.organisation_id)

    def on_user(instance, update_fields=None, **_):
        if update_fields is not None and set(update_fields) <= {"last_login"}:
            return  # signing in changes nothing an entry holds
        for organisation_id in Membership.objects.filter(user_id=instance.pk).values_list("organisation_id", flat=True):
            changed(organisation_id=organisation_id)

    for model, receiver in (
        (ApiToken, on_token), (Connection, on_connection), (Organisation, on_organisation), (Membership, on_org_row),
        (CustomService, on_org_row), (ServiceClient, on_org_row), (get_user_model(), on_user),
    ):
        for signal in (post_save, post_delete):
            signal.connect(receiver, sender=model, weak=False, dispatch_uid=f"hot_cache:{signal_name(signal)}:{model._meta.label}")


def signal_name(signal) -> str:
    return "save" if signal is post_save else "delete"
