from django.contrib.auth import views as auth_views
from django.urls import path

from . import oauth_views, views

urlpatterns = [
    path("", views.connection_list, name="connection-list"),
    path("connections/<str:link_name>/", views.connection_detail, name="connection-detail"),
    path("oauth/authorize/<str:token>", oauth_views.authorize, name="oauth-authorize"),
    path("oauth/callback", oauth_views.oauth2_callback, name="oauth2-callback"),
    path("oauth1/callback", oauth_views.oauth1_callback, name="oauth1-callback"),
    path("login/", auth_views.LoginView.as_view(template_name="auth/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
