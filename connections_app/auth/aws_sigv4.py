"""AWS Signature Version 4: the service's ``aws`` block (signing name and region, placeholders
allowed), and every request signed by botocore's signer, payload hash included.

The connection gives an access key id, a secret access key and, for temporary credentials,
a session token. The signature covers the method, path, query, the headers sent and the
SHA-256 of the body, so the request is signed last, once everything else is set (requests
applies ``auth`` after the body), and signed again on every retry (a fresh ``X-Amz-Date``).
"""

from __future__ import annotations

import logging
import re
from typing import Annotated

import requests
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from pydantic import Field, StringConstraints
from requests.models import PreparedRequest

from services_catalog.fields import PLACEHOLDER_RE, TEMPLATED, CredentialField, FieldError, Shape

from .base import AuthType, encodings_of

# botocore's signer logs the canonical request and string to sign at DEBUG, and the canonical
# request holds the session token: nothing below WARNING leaves that logger, whatever the
# root level (a filter, so a later level change cannot undo it).
_SIGNER_LOG = logging.getLogger("botocore.auth")
_SIGNER_LOG.setLevel(logging.WARNING)
_SIGNER_LOG.addFilter(lambda record: record.levelno >= logging.WARNING)

FIELDS = (
    CredentialField(key="access_key_id", display_name="Access key id"),
    CredentialField(key="secret_access_key", display_name="Secret access key"),
    CredentialField(key="session_token", display_name="Session token (temporary credentials only)", required=False),
)
# The headers the signer sets; a caller may not set them.
SIGNED_BY_US = ("authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256")
NAME = r"^(?:[a-z0-9][a-z0-9-]{0,62}|\{[a-z][a-z0-9_]*\})$"


class AwsConfig(Shape):
    service: Annotated[str, StringConstraints(pattern=NAME), TEMPLATED, Field(description="Signing name: s3, dynamodb, ses, sqs, lambda, bedrock.")]
    region: Annotated[str, StringConstraints(pattern=NAME), TEMPLATED, Field(description="e.g. us-east-1, or {region} from the connection's config.")]


class AwsSigV4Signer(requests.auth.AuthBase):
    """Sign a prepared request with botocore (``S3SigV4Auth`` for S3: it sends the payload hash
    as ``X-Amz-Content-SHA256``, which S3 requires)."""

    def __init__(self, credentials: Credentials, service: str, region: str):
        signer = S3SigV4Auth if service == "s3" else SigV4Auth
        self.signer = signer(credentials, service, region)

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        for name in SIGNED_BY_US:  # a retry signs again, from scratch
            request.headers.pop(name, None)
        body = request.body.encode() if isinstance(request.body, str) else request.body
        aws = AWSRequest(method=request.method, url=request.url, data=body or b"", headers=dict(request.headers))
        self.signer.add_auth(aws)
        for name, value in aws.headers.items():
            if name.lower() in SIGNED_BY_US:
                request.headers[name] = value
        return request


class AwsSigV4(AuthType):
    name = "aws_sigv4"
    label = "AWS Signature V4"
    fixed_credential_fields = FIELDS
    param_types = ("header",)
    param_type_error = "AWS signatures travel in headers; use param_type: header."
    section = "aws"
    section_model = AwsConfig

    @classmethod
    def check_service(cls, service) -> None:
        super().check_service(service)
        names = {f.name for f in service.config_fields}
        for field in ("service", "region"):
            for placeholder in PLACEHOLDER_RE.findall(getattr(service.aws, field)):
                if placeholder not in names:
                    raise FieldError(f"aws.{field}", f"Placeholder {{{placeholder}}} is not a config field.")

    def build_auth(self, credentials: dict) -> AwsSigV4Signer:
        aws = self.service.aws
        if re.search(r"[{}]", aws.service + aws.region):
            raise ValueError("The service's region or signing name is not filled in.")
        token = credentials.get("session_token") or None
        return AwsSigV4Signer(Credentials(credentials["access_key_id"], credentials["secret_access_key"], token), aws.service, aws.region)

    def injected_names(self) -> set[str]:
        return set(SIGNED_BY_US)

    def hint(self, credentials: dict) -> str:
        key_id = credentials.get("access_key_id", "")
        return key_id[-4:] if len(key_id) >= 12 else ""

    def secret_values(self, credentials: dict) -> list[str]:
        return encodings_of([credentials.get("secret_access_key", ""), credentials.get("session_token", "")])

    def has_usable_credentials(self, credentials: dict) -> bool:
        return bool(credentials.get("access_key_id")) and bool(credentials.get("secret_access_key"))
