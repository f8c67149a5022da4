from django.urls import path

from .views import LeadImportView, LeadTagViewSet, LeadViewSet

routes = [("leads", LeadViewSet, "lead"), ("tags", LeadTagViewSet, "tag")]

urlpatterns = [path("leads/import/", LeadImportView.as_view(), name="leads-import")]
