from typing import Any

from .views import NotificationTemplateViewSet, NotificationViewSet

routes = [("notifications", NotificationViewSet, "notification"),
          ("notification-templates", NotificationTemplateViewSet, "notification-template")]

urlpatterns: list[Any] = []
