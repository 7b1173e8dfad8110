from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DistinctConfig(AppConfig):
    name = "django_distinct"
    verbose_name = _("Distinct erasure")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks, conf, receivers

        checks.register()
        if conf.get("ERASE_ON_DELETE"):
            receivers.connect()
