"""Business steps: plain functions named ``<noun>_<verb>`` with keyword-only arguments, one
module per entity. Views, serializers, commands, MCP tools and tasks call these (as
``services.<step>``) and nothing deeper. Each step validates its input completely before it
writes, and writes in one transaction, so bad input leaves nothing half-stored.
"""

from .accounts import (  # noqa: F401
    api_token_create,
    api_token_revoke,
    custom_service_connect,
    link_name_check,
    membership_ensure,
    membership_list,
    organisation_switch,
)
from .connections import (  # noqa: F401
    ConnectionChanges,
    authorize_link_create,
    connection_create,
    connection_delete,
    connection_reconnect,
    connection_refresh_now,
    connection_revoke,
    connection_test,
    connection_update,
)
from .custom_services import (  # noqa: F401
    REPOINTING_URLS,
    custom_service_create,
    custom_service_delete,
    custom_service_parse,
    custom_service_update,
    service_client_set,
    service_for_client,
)
from .validation import (  # noqa: F401
    NAME_MAX,
    RESERVED_CONNECTION_LINK_NAMES,
)
from .webhooks import (  # noqa: F401
    webhook_clear,
    webhook_set,
)
