from django.urls import path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import SimpleRouter

from . import token_views, views

router = SimpleRouter()
router.register("services", views.ServiceViewSet, basename="service")
router.register("connections", views.ConnectionViewSet, basename="connection")
router.register("events", views.EventViewSet, basename="event")
router.register("tokens", token_views.TokenViewSet, basename="token")

urlpatterns = [
    path("invoke/", views.InvokeView.as_view(), name="invoke"),
    path("webhook/", views.WebhookView.as_view(), name="webhook"),
    path("schema/", SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]), name="schema"),
    *router.urls,
]
