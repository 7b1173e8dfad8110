from django.contrib.auth.models import AbstractUser
from django.db import models
from phonenumber_field.modelfields import PhoneNumberField


class Organisation(models.Model):
    name = models.CharField(max_length=100)


class User(AbstractUser):
    """A custom user with a phone, as many sites have."""

    phone = PhoneNumberField(blank=True)
    organisation = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.CASCADE
    )


class ProxyUser(User):
    class Meta:
        proxy = True


class Profile(models.Model):
    """Related rows are gone before post_delete fires for the user."""

    user = models.OneToOneField(User, on_delete=models.CASCADE)
    mobile = models.CharField(max_length=40, blank=True)
