"""Domain errors. Each carries the API error code and HTTP status from the contract.

Business functions raise these; the API's exception handler and the web views turn them
into the JSON envelope or a page. Messages never include a secret.
"""

from __future__ import annotations


class ConnectionsError(Exception):
    code = "error"
    status = 400
    default_message = "The request could not be completed."

    def __init__(self, message: str | None = None, *, fields: dict[str, list[str]] | None = None, headers: dict | None = None):
        self.message = message or self.default_message
        self.fields = fields
        self.headers = headers or {}
        super().__init__(self.message)


class ValidationFailed(ConnectionsError):
    code, status, default_message = "validation_error", 400, "The input is not valid."

    @classmethod
    def field(cls, name: str, message: str) -> "ValidationFailed":
        return cls(f"{name}: {message}", fields={name: [message]})


class PermissionDenied(ConnectionsError):
    code, status, default_message = "permission_denied", 403, "Your role does not allow this."


class NotFound(ConnectionsError):
    code, status, default_message = "not_found", 404, "Not found."


class Conflict(ConnectionsError):
    code, status, default_message = "conflict", 409, "This conflicts with what is stored."

    @classmethod
    def field(cls, name: str, message: str) -> "Conflict":
        return cls(message, fields={name: [message]})


class ConnectionNotReady(ConnectionsError):
    code, status = "connection_not_ready", 409


class HostNotAllowed(ConnectionsError):
    code, status = "host_not_allowed", 403


class UpstreamTimeout(ConnectionsError):
    code, status, default_message = "upstream_timeout", 504, "The external service did not answer in time."


class UpstreamError(ConnectionsError):
    code, status, default_message = "upstream_error", 502, "The external service could not be reached."


class KeyUnavailable(ConnectionsError):
    code, status = "encryption_key_unavailable", 503
    default_message = (
        "Stored credentials cannot be decrypted with the configured encryption keys "
        "(CONNECTIONS_ENCRYPTION_KEYS). Nothing was changed."
    )


class ServiceUnavailable(ConnectionsError):
    code, status, default_message = "service_unavailable", 503, "A dependency is unavailable; retry later."
