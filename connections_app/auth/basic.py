"""HTTP Basic: ``Authorization: Basic base64(username:password)``, and optional secrets that
travel beside it on every call.

Some APIs want more than the account's password: UKG Pro's REST APIs take Basic with a web
service account *and* the customer's API key header. Those secrets are the service's
``parameters``, declared exactly as an API key service's (key, display name, value
template) and placed by ``param_type`` (header or query string); each connection gives their
values with its user name and password, stored encrypted with them.
"""

from __future__ import annotations

import requests
from requests.auth import HTTPBasicAuth

from services_catalog.fields import FieldError, Parameter, fill_value

from .base import AuthType, ParameterInjector, basic_token, encodings_of

FIELDS = (Parameter(key="username", display_name="Username"), Parameter(key="password", display_name="Password"))


class BasicWithParameters(requests.auth.AuthBase):
    """The Basic header, then the service's extra secrets where ``param_type`` puts them."""

    def __init__(self, basic: HTTPBasicAuth, extra: ParameterInjector):
        self.basic = basic
        self.extra = extra

    def __call__(self, request):
        return self.extra(self.basic(request))


class Basic(AuthType):
    name = "basic"
    label = "Basic authentication"
    fixed_credential_fields = FIELDS
    takes_parameters = True
    parameters_required = False
    param_types = ("header", "query")
    param_type_error = "Basic authentication travels in a header; use param_type: header (or query for its extra parameters)."

    @classmethod
    def check_service(cls, service) -> None:
        super().check_service(service)
        if service.param_type != "header" and not service.parameters:
            raise FieldError("param_type", "Basic authentication travels in a header; use param_type: header (query places only extra parameters).")
        for i, parameter in enumerate(service.parameters):
            key = parameter.key.lower()
            if key in {f.key for f in FIELDS} or (service.param_type == "header" and key == "authorization"):
                raise FieldError(f"parameters[{i}].key", f"{parameter.key} is taken by Basic authentication itself.")

    def credential_fields(self):
        return (*FIELDS, *self.service.parameters)

    def build_auth(self, credentials: dict) -> requests.auth.AuthBase:
        basic = HTTPBasicAuth(credentials["username"], credentials["password"])
        if not self.service.parameters:
            return basic
        values = {p.key: fill_value(p.value_template, credentials[p.key]) for p in self.service.parameters if p.key in credentials}
        return BasicWithParameters(basic, ParameterInjector(self.service.param_type, values))

    def injected_names(self) -> set[str]:
        return {"authorization", *(p.key.lower() for p in self.service.parameters)}

    def hint(self, credentials: dict) -> str:
        password = credentials.get("password", "")
        return password[-4:] if len(password) >= 12 else ""

    def secret_values(self, credentials: dict) -> list[str]:
        token = basic_token(credentials.get("username", ""), credentials.get("password", ""))
        extra = [credentials.get(p.key, "") for p in self.service.parameters]
        return encodings_of([credentials.get("password", ""), token, *extra])

    def has_usable_credentials(self, credentials: dict) -> bool:
        keys = ("username", "password", *(p.key for p in self.service.parameters))
        return all(credentials.get(k) for k in keys)
