"""The JWT bearer grant (RFC 7523 section 2.1): the key a connection gives, checked, and the
assertion signed with it (by Authlib) for every token request."""

from __future__ import annotations

import json

from authlib.oauth2.rfc7523 import JWTBearerGrant
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

from services_catalog.fields import CredentialField

from ...errors import ValidationFailed
from .config import OAuth2Config, clean_key_values

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_SECONDS = 60  # Box allows at most 60 s, Salesforce 3 minutes, Google an hour
# What a JWT bearer connection gives: a Google-style key file, or a PEM key and its issuer.
JWT_FIELDS = (
    CredentialField(key="service_account_json", display_name="Service account key file (JSON), or leave empty and give a private key",
                    required=False, multiline=True),
    CredentialField(key="private_key", display_name="Private key (PEM)", required=False, multiline=True),
    CredentialField(key="issuer", display_name="Issuer (client id or service account e-mail)", required=False),
    CredentialField(key="subject", display_name="Subject: the user to act as (optional)", required=False),
    CredentialField(key="key_id", display_name="Key id (optional)", required=False),
)
JWT_CREDENTIAL_KEYS = tuple(f.key for f in JWT_FIELDS)


def key_hints(credentials: dict) -> list[tuple[str, str]]:
    """What a page shows of a JWT bearer key: who it signs as, never a part of the key (the
    last characters of a PEM block or a key file are its framing, and say nothing)."""
    raw = credentials.get("service_account_json")
    data = {}
    if raw:
        try:
            data = json.loads(raw)
        except ValueError:
            data = {}
    shown = [("Service account key file", "")] if raw else []  # shown as "set"
    if credentials.get("private_key"):
        shown.append(("Private key (PEM)", ""))
    issuer = credentials.get("issuer") or (data.get("client_email") if isinstance(data, dict) else None)
    key_id = credentials.get("key_id") or (data.get("private_key_id") if isinstance(data, dict) else None)
    if isinstance(issuer, str) and issuer:
        shown.append(("Signs as", issuer))
    if credentials.get("subject"):
        shown.append(("Acts as", credentials["subject"]))
    if isinstance(key_id, str) and len(key_id) >= 12:
        shown.append(("Key id", f"…{key_id[-4:]}"))
    return shown


def load_private_key(pem: str):
    """Import a PEM private key (RSA or EC) with joserfc, or raise ValueError naming no secret."""
    for kind in (RSAKey, ECKey):
        try:
            key = kind.import_key(pem)
        except (JoseError, ValueError, TypeError):
            continue
        if key.is_private:
            return key
    raise ValueError("The private key could not be read (RSA or EC, PEM).")


def validate_key(config: OAuth2Config, values) -> dict[str, str]:
    """The key a JWT bearer connection gives, cleaned, or ValidationFailed naming each field."""
    cleaned, errors = clean_key_values(values, known=JWT_CREDENTIAL_KEYS, multiline={"service_account_json", "private_key"})
    if not errors:
        try:
            signing_material(config, cleaned)
        except ValueError as exc:
            field = "service_account_json" if "service_account_json" in cleaned else "private_key"
            errors[f"credentials.{field}"] = [str(exc)]
    if errors:
        raise ValidationFailed("Some credentials are missing or not valid.", fields=errors)
    return cleaned


def signing_material(config: OAuth2Config, credentials: dict) -> dict:
    """``{key, issuer, subject, key_id}`` from a key file or a PEM key; ValueError names no secret."""
    raw = credentials.get("service_account_json")
    if raw and credentials.get("private_key"):
        raise ValueError("Give either a key file or a private key, not both.")
    if raw:
        try:
            data = json.loads(raw)
        except ValueError:
            raise ValueError("The key file is not JSON.") from None
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("client_email", "private_key")):
            raise ValueError("The key file has no client_email and private_key (is it a service account key?).")
        token_uri = data.get("token_uri")
        if token_uri and token_uri != config.token_url:
            raise ValueError("The key file's token_uri is not this service's token endpoint.")
        material = {"pem": data["private_key"], "issuer": data["client_email"], "key_id": data.get("private_key_id")}
    elif credentials.get("private_key"):
        if not credentials.get("issuer"):
            raise ValueError("A private key needs its issuer (the client id or account it belongs to).")
        material = {"pem": credentials["private_key"], "issuer": credentials["issuer"], "key_id": credentials.get("key_id")}
    else:
        raise ValueError("Give a service account key file or a private key.")
    if credentials.get("key_id"):
        material["key_id"] = credentials["key_id"]
    material["subject"] = credentials.get("subject") or None
    material["key"] = load_private_key(material.pop("pem"))
    return material


def assertion(config: OAuth2Config, credentials: dict, scope: str | None) -> str:
    """A fresh RFC 7523 assertion signed with the connection's key (Authlib signs it)."""
    material = signing_material(config, credentials)
    claims = dict(config.assertion_claims)
    if scope and config.assertion_scope == "claim":
        claims["scope"] = scope
    header = {"alg": config.assertion_algorithm}
    if material["key_id"]:
        header["kid"] = material["key_id"]
    return JWTBearerGrant.sign(
        material["key"], issuer=material["issuer"], audience=config.assertion_audience or config.token_url,
        subject=material["subject"], claims=claims, header=header, expires_in=ASSERTION_SECONDS,
    )
