from django.urls import path, re_path

from .views import LeadImportJobViewSet, LeadImportView, LeadTagViewSet, LeadViewSet

routes = [("leads", LeadViewSet, "lead"), ("tags", LeadTagViewSet, "tag")]

# Explicit paths, before the router's: "leads/imports/" is no lead's id.
urlpatterns = [
    path("leads/import/", LeadImportView.as_view(), name="leads-import"),
    path("leads/imports/", LeadImportJobViewSet.as_view({"get": "list"}), name="lead-import-list"),
    re_path(r"^leads/imports/(?P<pk>[^/.]+)/$", LeadImportJobViewSet.as_view({"get": "retrieve"}),
            name="lead-import-detail"),
]
