from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from django_distinct.admin import EraseAtDistinctMixin

from .models import User


@admin.register(User)
class SiteUserAdmin(EraseAtDistinctMixin, UserAdmin):
    fieldsets = UserAdmin.fieldsets + (("Distinct", {"fields": ("phone",)}),)
    list_display = ("username", "email", "phone", "is_staff")
