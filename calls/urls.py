from .views import CallLogViewSet, CampaignViewSet

routes = [("calls", CallLogViewSet, "call"), ("campaigns", CampaignViewSet, "campaign")]

urlpatterns = []
