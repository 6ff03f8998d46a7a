"""OAuth 2.0, one home in a few modules: ``config`` (the service's block), ``jwt_bearer`` and
``saml_bearer`` (the key a connection gives and its assertion: RFC 7523, RFC 7522),
``client_auth`` (how the organisation's client proves itself), ``grants`` (the protocol
steps), ``answers`` (reading a token answer, the values kept from it) and ``home`` (the
``AuthType``)."""

from .home import OAuth2

__all__ = ["OAuth2"]
