from django.apps import AppConfig


class ConnectionsAppConfig(AppConfig):
    name = "connections_app"
    verbose_name = "Connections"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the encryption-key checks)
        from .api import schema  # noqa: F401  (registers the OpenAPI auth schemes)
        from .hot_cache import connect_signals

        connect_signals()
