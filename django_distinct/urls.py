"""URLs of the REST API: ``path("distinct/", include("django_distinct.urls"))``."""

from rest_framework.routers import SimpleRouter

from .api import ErasureRequestViewSet

app_name = "django_distinct"

router = SimpleRouter()
router.register("erasure-requests", ErasureRequestViewSet, basename="erasure-request")
urlpatterns = router.urls
