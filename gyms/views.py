from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import generics

from reps.core.permissions import MANAGERS
from reps.tenancy.api import GymAPIView, TenantCrudViewSet

from .filters import BranchFilter, KnowledgeBaseEntryFilter
from .models import Branch, Gym, KnowledgeBaseEntry
from .serializers import BranchSerializer, GymSerializer, KnowledgeBaseEntrySerializer
from .services import update_gym


@extend_schema(tags=["gym"])
class GymView(GymAPIView, generics.RetrieveUpdateAPIView):
    """The caller's own gym, with its settings, AI settings and voice settings."""

    serializer_class = GymSerializer
    write_roles = MANAGERS

    def get_object(self) -> Gym:
        return Gym.objects.select_related("settings", "ai_settings", "voice_settings").get(pk=self.gym_id)

    def perform_update(self, serializer: Any) -> None:
        serializer.instance = update_gym(gym=self.gym_id, data=serializer.validated_data)


@extend_schema(tags=["branches"])
class BranchViewSet(TenantCrudViewSet):
    model = Branch
    serializer_class = BranchSerializer
    filterset_class = BranchFilter
    ordering_fields = ["name", "city", "created_at"]
    ordering = ["name"]
    write_roles = MANAGERS


@extend_schema(tags=["knowledge base"])
class KnowledgeBaseEntryViewSet(TenantCrudViewSet):
    model = KnowledgeBaseEntry
    serializer_class = KnowledgeBaseEntrySerializer
    filterset_class = KnowledgeBaseEntryFilter
    ordering_fields = ["title", "category", "created_at", "updated_at"]
    ordering = ["title"]
    write_roles = MANAGERS
