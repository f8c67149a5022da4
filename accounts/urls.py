from django.urls import path

from .views import LogoutView, TokenView, UserViewSet

routes = [("users", UserViewSet, "user")]

urlpatterns = [
    path("auth/token/", TokenView.as_view(), name="auth-token"),
    path("auth/logout/", LogoutView.as_view(), name="auth-logout"),
]
