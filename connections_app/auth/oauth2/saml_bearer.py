"""The SAML 2.0 bearer assertion grant (RFC 7522): the key a connection gives, checked, and
the assertion built and signed with it (signxml over lxml) for every token request.

SAP SuccessFactors issues OData API tokens this way: the connection holds the private key
whose X.509 certificate is registered with the provider's OAuth client, the client id
(SuccessFactors' "API key", the assertion's issuer) and the user to act as (the subject);
SuccessFactors also wants ``client_id`` and its ``company_id`` in the token request body.
There is no refresh token: each token comes from a fresh assertion, valid a few minutes.
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree
from signxml import XMLSigner
from signxml.algorithms import CanonicalizationMethod, SignatureMethod

from services_catalog.fields import CredentialField

from ...errors import ValidationFailed
from .config import OAuth2Config, clean_key_values

SAML2_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:saml2-bearer"
ASSERTION_SECONDS = 300  # short: an assertion is used once, at once
SKEW_SECONDS = 30  # NotBefore a little in the past, for the provider's clock
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DSIG = "http://www.w3.org/2000/09/xmldsig#"

SAML_FIELDS = (
    CredentialField(key="private_key", display_name="Private key (PEM) of the registered X.509 certificate", multiline=True),
    CredentialField(key="certificate", display_name="X.509 certificate (PEM, optional: sent in the signature)",
                    required=False, multiline=True),
    CredentialField(key="client_id", display_name="Client id (the OAuth client's API key; the assertion's issuer)"),
    CredentialField(key="user_id", display_name="User id: the user to act as (the assertion's subject)"),
    CredentialField(key="company_id", display_name="Company id (SAP SuccessFactors; leave empty elsewhere)", required=False),
)
SAML_CREDENTIAL_KEYS = tuple(f.key for f in SAML_FIELDS)
_MULTILINE = {f.key for f in SAML_FIELDS if f.multiline}


def validate_key(values) -> dict[str, str]:
    """The key, certificate and names a connection gives, cleaned, or ValidationFailed
    naming each field (never a part of the key)."""
    cleaned, errors = clean_key_values(values, known=SAML_CREDENTIAL_KEYS, multiline=_MULTILINE, one_line_max=500)
    for f in SAML_FIELDS:
        if f.required and f.key not in cleaned and f"credentials.{f.key}" not in errors:
            errors[f"credentials.{f.key}"] = ["This field is required."]
    if not errors:
        try:
            signing_material(cleaned)
        except ValueError as exc:
            field = "certificate" if "certificate" in str(exc) else "private_key"
            errors[f"credentials.{field}"] = [str(exc)]
    if errors:
        raise ValidationFailed("Some credentials are missing or not valid.", fields=errors)
    return cleaned


def signing_material(credentials: dict) -> tuple:
    """(private key, certificate PEM or None); ValueError names no secret."""
    try:
        key = serialization.load_pem_private_key((credentials.get("private_key") or "").encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError("The private key could not be read (RSA or EC, PEM, not encrypted).") from None
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise ValueError("The private key must be RSA or EC.")
    pem = credentials.get("certificate")
    if pem:
        try:
            cert = x509.load_pem_x509_certificate(pem.encode())
        except ValueError:
            raise ValueError("The certificate could not be read (X.509, PEM).") from None
        if cert.public_key().public_numbers() != key.public_key().public_numbers():
            raise ValueError("The certificate is not the private key's (their public keys differ).")
    return key, pem or None


def _instant(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def assertion(config: OAuth2Config, credentials: dict) -> str:
    """A fresh signed SAML 2.0 assertion, base64url-encoded without padding (RFC 7522
    section 2.1): issuer = the client id, subject = the user, audience = ``assertion_audience``
    (default the token URL), the bearer confirmation's recipient = the token URL."""
    key, cert = signing_material(credentials)
    now = datetime.now(timezone.utc)
    not_before, not_after = _instant(now - timedelta(seconds=SKEW_SECONDS)), _instant(now + timedelta(seconds=ASSERTION_SECONDS))
    assertion_id = "_" + secrets.token_hex(20)
    root = etree.Element(f"{{{SAML}}}Assertion", nsmap={"saml2": SAML},
                         ID=assertion_id, IssueInstant=_instant(now), Version="2.0")
    etree.SubElement(root, f"{{{SAML}}}Issuer").text = credentials["client_id"]
    # The signature goes right after the Issuer, as the SAML schema orders it.
    etree.SubElement(root, f"{{{DSIG}}}Signature", nsmap={"ds": DSIG}, Id="placeholder")
    subject = etree.SubElement(root, f"{{{SAML}}}Subject")
    name_id = etree.SubElement(subject, f"{{{SAML}}}NameID", Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified")
    name_id.text = credentials["user_id"]
    confirmation = etree.SubElement(subject, f"{{{SAML}}}SubjectConfirmation", Method="urn:oasis:names:tc:SAML:2.0:cm:bearer")
    etree.SubElement(confirmation, f"{{{SAML}}}SubjectConfirmationData", NotOnOrAfter=not_after, Recipient=config.token_url)
    conditions = etree.SubElement(root, f"{{{SAML}}}Conditions", NotBefore=not_before, NotOnOrAfter=not_after)
    restriction = etree.SubElement(conditions, f"{{{SAML}}}AudienceRestriction")
    etree.SubElement(restriction, f"{{{SAML}}}Audience").text = config.assertion_audience or config.token_url
    statement = etree.SubElement(root, f"{{{SAML}}}AuthnStatement", AuthnInstant=_instant(now))
    context = etree.SubElement(statement, f"{{{SAML}}}AuthnContext")
    etree.SubElement(context, f"{{{SAML}}}AuthnContextClassRef").text = "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified"
    method = SignatureMethod.RSA_SHA256 if isinstance(key, rsa.RSAPrivateKey) else SignatureMethod.ECDSA_SHA256
    signer = XMLSigner(signature_algorithm=method, c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)
    signed = signer.sign(root, key=key, cert=cert, reference_uri=assertion_id)
    xml = etree.tostring(signed)
    return base64.urlsafe_b64encode(xml).rstrip(b"=").decode()


def token_request_fields(credentials: dict) -> dict[str, str]:
    """What the token request carries beside the grant type and assertion: the client id
    (RFC 6749 section 2.3 lets a client without a secret name itself) and, when given,
    SuccessFactors' ``company_id``."""
    fields = {"client_id": credentials["client_id"]}
    if credentials.get("company_id"):
        fields["company_id"] = credentials["company_id"]
    return fields


def key_hints(credentials: dict) -> list[tuple[str, str]]:
    """What a page shows of a SAML bearer key: who it signs as, never a part of the key."""
    shown = [("Private key (PEM)", "")] if credentials.get("private_key") else []
    if credentials.get("certificate"):
        shown.append(("X.509 certificate", ""))
    for key, label in (("client_id", "Signs as"), ("user_id", "Acts as"), ("company_id", "Company")):
        if credentials.get(key):
            shown.append((label, credentials[key]))
    return shown
