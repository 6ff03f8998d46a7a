from django.contrib.auth import views as auth_views
from django.urls import path

from . import oauth_views, views
from .login import ThrottledLoginView

urlpatterns = [
    path("", views.connection_list, name="connection-list"),
    # Fixed paths first: "new" is reserved as a connection link name, and the others hold
    # a "-", which no link name can.
    path("connections/new/", views.connection_new, name="connection-new"),
    path("connections/new/<str:service_link_name>/", views.connection_new_details, name="connection-new-details"),
    path("connections/check-link-name/", views.link_name_check, name="link-name-check"),
    path("connections/<str:link_name>/", views.connection_detail, name="connection-detail"),
    path("connections/<str:link_name>/edit/", views.connection_edit, name="connection-edit"),
    path("connections/<str:link_name>/test/", views.connection_test, name="connection-test"),
    path("connections/<str:link_name>/reconnect/", views.connection_reconnect, name="connection-reconnect"),
    path("connections/<str:link_name>/revoke/", views.connection_revoke, name="connection-revoke"),
    path("connections/<str:link_name>/delete/", views.connection_delete, name="connection-delete"),
    path("services/", views.service_list, name="service-list"),
    path("services/<str:link_name>/edit/", views.service_edit, name="service-edit"),
    path("services/<str:link_name>/delete/", views.service_delete, name="service-delete"),
    path("services/<str:link_name>/client/", views.service_client, name="service-client"),
    path("tokens/", views.token_list, name="token-list"),
    path("tokens/new/", views.token_created, name="token-created"),
    path("tokens/<int:token_id>/revoke/", views.token_revoke, name="token-revoke"),
    path("organisation/", views.organisation_switch, name="organisation-switch"),
    path("oauth/authorize/<str:token>", oauth_views.authorize, name="oauth-authorize"),
    path("oauth/callback", oauth_views.oauth2_callback, name="oauth2-callback"),
    path("oauth1/callback", oauth_views.oauth1_callback, name="oauth1-callback"),
    path("login/", ThrottledLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
