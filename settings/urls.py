from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularSwaggerView

from connections_app.mcp.views import mcp_endpoint

urlpatterns = [
    # /healthz, /readyz and /metrics are answered by OpsEndpointsMiddleware, ahead of the
    # host and HTTPS checks, so they have no route here.
    # Namespaced: the API's router names (connection-detail, ...) would otherwise collide
    # with the pages' names.
    path("api/v1/", include(("connections_app.api.urls", "api"))),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="api-docs"),
    # MCP (Streamable HTTP) for AI agents: connections_app/mcp/, docs/AGENTS.md.
    path("mcp", mcp_endpoint, name="mcp"),
    path("admin/", admin.site.urls),
    path("", include("connections_app.web.urls")),
]

handler400 = "connections_app.web.views.bad_request"
handler404 = "connections_app.web.views.not_found"
handler500 = "connections_app.web.views.server_error"
