from django.contrib import admin
from django.contrib.auth.views import LogoutView
from django.db import transaction
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny
from rest_framework.routers import APIRootView, DefaultRouter

import accounts.urls
import appointments.urls
import calls.urls
import gyms.urls
import leads.urls
import notifications.urls
import workspace.admin
from accounts.views import BrowsableApiLoginView
from reps.core.views import healthz, livez, metrics_view
from reps.tenancy.api import GymAPIView
from workspace.views import favicon, site_root

APPS = [gyms.urls, accounts.urls, leads.urls, calls.urls, appointments.urls, notifications.urls]


# The API's root, schema and docs work like every other view of the API: in a transaction where the
# user's token or session can be read under row-level security.
class ApiRootView(GymAPIView, APIRootView):
    """The API's resources; every list, detail and action is linked from its list."""


class SchemaView(GymAPIView, SpectacularAPIView):
    permission_classes = [AllowAny]


class SwaggerView(GymAPIView, SpectacularSwaggerSplitView):
    """Swagger UI with its start-up script served apart (?script), so that the page runs no inline script."""

    permission_classes = [AllowAny]
    extra_query_params = ("script",)


class Router(DefaultRouter):
    APIRootView = ApiRootView
    # One way to ask for a format: ?format= (or Accept). The .json suffix routes doubled every URL, and an
    # action's suffix route answered 500 (its method takes no format argument).
    include_format_suffixes = False


router = Router()
for app in APPS:
    for prefix, viewset, basename in app.routes:
        router.register(prefix, viewset, basename=basename)

# Explicit paths first: "calls/queue/" must not be read as the call with id "queue".
api_v1 = [pattern for app in APPS for pattern in app.urlpatterns] + [path("", include(router.urls))]

# The browsable API's sign-in: Django's views, in a transaction, where the
# user's row can be read in their gym (accounts.authentication.GymUserBackend).
api_auth = ([
    path("login/", transaction.atomic(BrowsableApiLoginView.as_view()), name="login"),
    path("logout/", transaction.atomic(LogoutView.as_view()), name="logout"),
], "rest_framework")

urlpatterns = [
    path("", site_root, name="site-root"),
    # Browsers ask for it on every page that names no icon (the API's, the platform admin's).
    path("favicon.ico", favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("workspace/", workspace.admin.site.urls),
    path("api/v1/", include((api_v1, "api"), namespace="v1")),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", SwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api-auth/", include(api_auth)),
    path("livez", livez, name="livez"),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
]

handler404 = "reps.core.errors.not_found"
handler500 = "reps.core.errors.server_error"
