from django.contrib.auth.models import AbstractUser
from phonenumber_field.modelfields import PhoneNumberField


class User(AbstractUser):
    """The site's users: Django's, plus the phone Distinct knows them by."""

    phone = PhoneNumberField(blank=True)
