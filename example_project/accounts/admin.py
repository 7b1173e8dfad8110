from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import User


@admin.register(User)
class SiteUserAdmin(UserAdmin):
    fieldsets = UserAdmin.fieldsets + (("Distinct", {"fields": ("phone",)}),)
    list_display = ("username", "email", "phone", "is_staff")
