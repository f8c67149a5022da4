from django.urls import path

from .views import CallLogViewSet, CampaignViewSet, QueueCallsView, RetellWebhookView

routes = [("calls", CallLogViewSet, "call"), ("campaigns", CampaignViewSet, "campaign")]

urlpatterns = [
    path("calls/queue/", QueueCallsView.as_view(), name="calls-queue"),
    path("webhooks/voice/retell/", RetellWebhookView.as_view(), name="retell-webhook"),
]
