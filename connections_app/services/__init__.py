"""Business steps: plain functions named ``<noun>_<verb>`` with keyword-only arguments, one
module per entity. Views, serializers, commands, MCP tools and tasks call these (as
``services.<step>``) and nothing deeper. Each step validates its input completely before it
writes, and writes in one transaction, so bad input leaves nothing half-stored.
"""

from .validation import (  # noqa: F401
    NAME_MAX,
    RESERVED_CONNECTION_LINK_NAMES,
)
from .custom_services import (  # noqa: F401
    custom_service_parse,
    custom_service_create,
    custom_service_update,
    REPOINTING_URLS,
    custom_service_delete,
    service_client_set,
    service_for_client,
)
from .connections import (  # noqa: F401
    connection_create,
    ConnectionChanges,
    connection_update,
    authorize_link_create,
    connection_reconnect,
    connection_revoke,
    connection_delete,
    connection_test,
    connection_refresh_now,
)
from .accounts import (  # noqa: F401
    api_token_create,
    api_token_revoke,
    membership_ensure,
    membership_list,
    organisation_switch,
    link_name_check,
    custom_service_connect,
)
from .webhooks import (  # noqa: F401
    webhook_set,
    webhook_clear,
)
