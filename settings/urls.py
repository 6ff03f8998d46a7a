from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularSwaggerView

from connections_app.observability import views as ops

urlpatterns = [
    # Also answered by OpsEndpointsMiddleware, ahead of the host and HTTPS checks.
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", ops.metrics, name="metrics"),
    # Namespaced: the API's router names (connection-detail, ...) would otherwise collide
    # with the pages' names.
    path("api/v1/", include(("connections_app.api.urls", "api"))),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="api-docs"),
    path("admin/", admin.site.urls),
    path("", include("connections_app.web.urls")),
]

handler404 = "connections_app.web.views.not_found"
handler500 = "connections_app.web.views.server_error"
