"""Encryption of stored secrets: MultiFernet over CONNECTIONS_ENCRYPTION_KEYS (newest first).

A ciphertext is bound to its context (model, organisation, row and field): the context is
sealed inside the token and checked on decryption, so a value copied to another row or
organisation does not decrypt there. Fernet adds a random IV, so equal secrets give
different ciphertexts. A failure raises ``EncryptionKeyUnavailable`` loudly; nothing here
swallows it or falls back to plaintext.

Each stored value starts with the id of the key that encrypted it (``<key id>:<Fernet
token>``; a key id is a short hash of the key, which says nothing about it), so "does any
row still need this key" is one exact query (``startswith``), and decryption goes straight
to the right key. Values written before key ids (no ``:``) are opened by trying each key.
"""

from __future__ import annotations

import binascii
import hashlib
import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

KEYS_SETTING = "CONNECTIONS_ENCRYPTION_KEYS"


class EncryptionKeyUnavailable(Exception):
    """Stored secrets cannot be decrypted (or encrypted) with the configured keys."""


class CiphertextContextMismatch(EncryptionKeyUnavailable):
    """A ciphertext was moved to a row or organisation it was not written for."""


KEY_ID_SEPARATOR = ":"


def key_id(key: str | bytes) -> str:
    """A short, stable id of a key (12 hex digits of a SHA-256 of it, domain-separated)."""
    raw = key.encode() if isinstance(key, str) else key
    return hashlib.sha256(b"connections-key-id:" + raw.strip()).hexdigest()[:12]


def configured_key_ids() -> tuple[str, ...]:
    """The ids of the configured keys, newest first."""
    return tuple(key_id(k) for k in configured_keys())


def key_id_of(stored: str) -> str | None:
    """The id of the key a stored value was written with; None for a value from before ids."""
    kid, sep, _token = stored.partition(KEY_ID_SEPARATOR)
    return kid if sep else None


@lru_cache(maxsize=4)
def _by_id(keys: tuple[str, ...]) -> dict[str, Fernet]:
    return dict(zip((key_id(k) for k in keys), _fernets(keys)[1]))


def _open(stored: str) -> bytes:
    """Decrypt a stored value with the key its id names (or, for an old value, any key)."""
    kid, sep, token = stored.partition(KEY_ID_SEPARATOR)
    if not sep:
        return _multi().decrypt(stored.encode())
    fernet = _by_id(configured_keys()).get(kid)
    if fernet is None:
        raise InvalidToken
    return fernet.decrypt(token.encode())


def _seal(payload: bytes) -> str:
    keys = configured_keys()
    first = _fernets(keys)[1][0]
    return f"{key_id(keys[0])}{KEY_ID_SEPARATOR}{first.encrypt(payload).decode()}"


@lru_cache(maxsize=4)
def _fernets(keys: tuple[str, ...]) -> tuple[MultiFernet, tuple[Fernet, ...]]:
    if not keys:
        raise EncryptionKeyUnavailable(f"{KEYS_SETTING} is empty; set at least one Fernet key.")
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key.encode() if isinstance(key, str) else key))
        except (ValueError, binascii.Error, TypeError):
            raise EncryptionKeyUnavailable(
                f"{KEYS_SETTING}: key number {position} is not a valid Fernet key "
                "(32 url-safe base64-encoded bytes)."
            ) from None
    return MultiFernet(fernets), tuple(fernets)


def configured_keys() -> tuple[str, ...]:
    return tuple(getattr(settings, KEYS_SETTING, ()) or ())


def _multi() -> MultiFernet:
    return _fernets(configured_keys())[0]


def validate_keys() -> None:
    """Raise EncryptionKeyUnavailable when the key list is missing or malformed."""
    _fernets(configured_keys())


def encrypt(value: Any, *, context: str) -> str:
    """Encrypt a JSON-serialisable value bound to ``context``; return text for a TextField,
    led by the id of the (first) key that encrypted it."""
    payload = json.dumps({"c": context, "v": value}, separators=(",", ":")).encode()
    return _seal(payload)


def decrypt(token: str, *, context: str) -> Any:
    """Decrypt a value written by ``encrypt`` for the same ``context``."""
    try:
        payload = json.loads(_open(token))
    except InvalidToken:
        raise EncryptionKeyUnavailable(
            f"Stored secrets cannot be decrypted with the keys in {KEYS_SETTING}; "
            "restore the key they were written with (newest first, old keys after)."
        ) from None
    if payload.get("c") != context:
        raise CiphertextContextMismatch("A stored secret does not belong to this record.")
    return payload["v"]


def is_current(token: str) -> bool:
    """Return True when ``token`` was written with the first (newest) key."""
    return key_id_of(token) == configured_key_ids()[0]


def rotate(token: str) -> str:
    """Re-encrypt ``token`` with the first key; raise when no configured key opens it."""
    try:
        return _seal(_open(token))
    except InvalidToken:
        raise EncryptionKeyUnavailable(
            f"A stored secret cannot be decrypted with any key in {KEYS_SETTING}; "
            "rotation stopped and nothing was changed for that value."
        ) from None


def can_decrypt(token: str) -> bool:
    """Return True when some configured key opens ``token`` (context is not checked)."""
    try:
        _open(token)
    except InvalidToken:
        return False
    return True
