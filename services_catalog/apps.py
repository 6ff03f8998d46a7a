from django.apps import AppConfig


class ServicesCatalogConfig(AppConfig):
    name = "services_catalog"
    verbose_name = "Services catalog"

    def ready(self) -> None:
        # Validate every catalog file at start-up: a bad file stops the process here,
        # naming the file and field, instead of failing on first use.
        from . import registry

        registry.catalog()
