from django.urls import path

from .views import BranchViewSet, GymView, KnowledgeBaseEntryViewSet

# (prefix, viewset, basename) for the API router in reps/urls.py
routes = [
    ("branches", BranchViewSet, "branch"),
    ("knowledge-base", KnowledgeBaseEntryViewSet, "knowledge-base"),
]

urlpatterns = [path("gym/", GymView.as_view(), name="gym")]
