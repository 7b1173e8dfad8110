"""Staff accounts with exactly the permissions a test needs."""

from django.contrib.auth.models import Permission

from tests.factories import UserFactory

VIEW = "view_erasurerequest"
ADD = "add_erasurerequest"
RESEND = "resend_erasurerequest"
VIEW_PII = "view_pii_erasurerequest"


def operator(*codenames, staff=True, **fields):
    user = UserFactory(is_staff=staff, **fields)
    user.set_password("pw")
    user.save()
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="django_distinct", codename__in=codenames
        )
    )
    return user
