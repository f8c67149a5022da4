from django.urls import path

from .views import LogoutView, PasswordView, RotateTokenView, TokenDetailView, TokenListView, TokenView, UserViewSet

routes = [("users", UserViewSet, "user")]

urlpatterns = [
    path("auth/token/", TokenView.as_view(), name="auth-token"),
    path("auth/logout/", LogoutView.as_view(), name="auth-logout"),
    path("auth/password/", PasswordView.as_view(), name="auth-password"),
    path("auth/token/rotate/", RotateTokenView.as_view(), name="auth-token-rotate"),
    path("auth/tokens/", TokenListView.as_view(), name="auth-tokens"),
    path("auth/tokens/<uuid:token_id>/", TokenDetailView.as_view(), name="auth-token-detail"),
]
