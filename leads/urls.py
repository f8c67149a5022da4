from .views import LeadTagViewSet, LeadViewSet

routes = [("leads", LeadViewSet, "lead"), ("tags", LeadTagViewSet, "tag")]

urlpatterns = []
