"""Forms of the browser pages, one module per area.

They check everything a person typed that can be checked without storing it, so that
every mistake shows at once; the business functions check again and their
``ValidationFailed.fields`` come back onto these forms through ``add_domain_error``.
"""

from .accounts import ApiTokenForm, ServiceClientForm
from .base import AUTH_TYPE_LABELS, PARAM_TYPE_LABELS, error_summary
from .connections import (
    ConnectionDetailsForm,
    ConnectionEditForm,
    ConnectionFilterForm,
    ServiceFilterForm,
)
from .custom_services import CustomServicePage

__all__ = [
    "AUTH_TYPE_LABELS", "PARAM_TYPE_LABELS", "ApiTokenForm", "ConnectionDetailsForm", "ConnectionEditForm",
    "ConnectionFilterForm", "CustomServicePage", "ServiceClientForm", "ServiceFilterForm", "error_summary",
]
