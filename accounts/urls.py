from django.urls import path

from .views import LogoutView, RotateTokenView, TokenView, UserViewSet

routes = [("users", UserViewSet, "user")]

urlpatterns = [
    path("auth/token/", TokenView.as_view(), name="auth-token"),
    path("auth/logout/", LogoutView.as_view(), name="auth-logout"),
    path("auth/token/rotate/", RotateTokenView.as_view(), name="auth-token-rotate"),
]
