"""An AWS-style API that verifies Signature Version 4 for real, for invoke tests.

It does what an AWS endpoint does with a request: parse the ``Authorization`` header, look
the access key up, check the credential scope (date, region, service), the clock, the
session token and, where sent, that ``X-Amz-Content-SHA256`` is the SHA-256 of the body it
received; then rebuild the canonical request from what arrived on the wire (only the
headers the client said it signed) and recompute the signature with the secret it holds,
using botocore's SigV4 primitives (canonical request, string to sign, signature). A wrong
secret, a changed body or header, or a stale date is refused with 403.

Usage::

    app, control = create_sigv4_server(region="eu-west-1", service="dynamodb")
    control.keys["AKIDEXAMPLE"] = "secret"
    server = start_wsgi(app)
    assert control.requests[-1]["verdict"] == "ok"
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
from datetime import datetime, timedelta, timezone

from botocore.auth import SIGV4_TIMESTAMP, S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from flask import Flask, jsonify, request

AUTH_RE = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request, "
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})"
)
MAX_SKEW = timedelta(minutes=5)


class SigV4Control:
    def __init__(self, region: str, service: str):
        self.region = region
        self.service = service
        self.keys: dict[str, str] = {}
        self.session_tokens: dict[str, str] = {}  # access key id -> the token it needs
        self.lock = threading.Lock()
        self._requests: list[dict] = []

    @property
    def requests(self) -> list[dict]:
        with self.lock:
            return list(self._requests)

    def verify(self) -> str:
        """Return "ok" or the AWS error code that refuses the current request."""
        match = AUTH_RE.fullmatch(request.headers.get("Authorization", ""))
        if not match:
            return "MissingAuthenticationToken"
        key_id = match["key"]
        secret = self.keys.get(key_id)
        if secret is None:
            return "InvalidClientTokenId"
        if (match["region"], match["service"]) != (self.region, self.service):
            return "SignatureDoesNotMatch"  # signed for another region or service
        amz_date = request.headers.get("X-Amz-Date", "")
        try:
            when = datetime.strptime(amz_date, SIGV4_TIMESTAMP).replace(tzinfo=timezone.utc)
        except ValueError:
            return "IncompleteSignature"
        if abs(datetime.now(timezone.utc) - when) > MAX_SKEW or amz_date[:8] != match["date"]:
            return "RequestExpired"
        token = request.headers.get("X-Amz-Security-Token")
        if token != self.session_tokens.get(key_id):
            return "InvalidToken"
        body = request.get_data()
        declared = request.headers.get("X-Amz-Content-SHA256")
        if declared is not None and declared != hashlib.sha256(body).hexdigest():
            return "XAmzContentSHA256Mismatch"
        signed = match["signed"].split(";")
        if "host" not in signed:
            return "SignatureDoesNotMatch"
        raw_uri = request.environ.get("REQUEST_URI") or request.environ.get("RAW_URI") or request.full_path
        aws = AWSRequest(
            method=request.method, url=f"{request.scheme}://{request.host}{raw_uri}", data=body,
            headers={name: request.headers.get(name, "") for name in signed},
        )
        aws.context["timestamp"] = amz_date
        signer_class = S3SigV4Auth if self.service == "s3" else SigV4Auth
        signer = signer_class(Credentials(key_id, secret, token), self.service, self.region)
        expected = signer.signature(signer.string_to_sign(aws, signer.canonical_request(aws)), aws)
        return "ok" if hmac.compare_digest(expected, match["signature"]) else "SignatureDoesNotMatch"


def create_sigv4_server(*, region: str = "us-east-1", service: str = "dynamodb") -> tuple[Flask, SigV4Control]:
    control = SigV4Control(region, service)
    app = Flask("sigv4")

    @app.route("/", defaults={"path": ""}, methods=["GET", "POST", "PUT", "DELETE"])
    @app.route("/<path:path>", methods=["GET", "POST", "PUT", "DELETE"])
    def any_path(path):
        verdict = control.verify()
        with control.lock:
            control._requests.append({
                "path": request.path, "method": request.method, "headers": dict(request.headers),
                "body": request.get_data(), "verdict": verdict,
            })
        if verdict != "ok":
            return jsonify({"__type": verdict, "message": "The request signature was refused."}), 403
        return jsonify({"ok": True, "path": request.path, "args": request.args.to_dict()})

    return app, control
