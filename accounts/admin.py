from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from rest_framework.authtoken.models import TokenProxy

from reps.tenancy.admin import BoundedListAdmin, GymFilter, gym_filter_media

from .models import ApiToken, Role, User, UserProfile

# DRF's token admin shows live keys; the API's tokens are accounts.ApiToken now, kept hashed.
admin.site.unregister(TokenProxy)


@admin.register(ApiToken)
class ApiTokenAdmin(BoundedListAdmin):
    """Who has which API tokens, and when they were last used; a key is never shown (only its hash is kept)."""

    list_display = ("name", "user", "created", "expiry", "last_used_at")
    list_select_related = ("user",)
    search_fields = ("user__email", "name")
    fields = ("name", "user", "created", "expiry", "last_used_at")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False  # tokens are made by signing in, where their key is shown once


class UserProfileInline(admin.StackedInline):
    model = UserProfile
    can_delete = False


class UserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "gym", "role")


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(BoundedListAdmin, DjangoUserAdmin):
    form = UserEditForm
    add_form = UserCreationForm
    list_display = ("email", "first_name", "last_name", "gym", "role", "is_active", "is_staff", "is_superuser")
    list_filter = ("is_active", "is_staff", "is_superuser", "role", ("gym", GymFilter))
    list_select_related = ("gym", "role")
    search_fields = ("email", "first_name", "last_name", "gym__name")
    ordering = ("email",)
    autocomplete_fields = ("gym",)
    inlines = [UserProfileInline]
    readonly_fields = ("last_login", "created_at")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Person", {"fields": ("first_name", "last_name")}),
        ("Gym", {"fields": ("gym", "role")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "created_at")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "gym", "role", "password1", "password2")}),)

    @property
    def media(self):
        return super().media + gym_filter_media(self)


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):
    list_display = ("name", "description")


@admin.register(UserProfile)
class UserProfileAdmin(BoundedListAdmin):
    list_display = ("user", "job_title", "phone")
    ordering = ("user__email",)
    list_select_related = ("user",)
    search_fields = ("user__email", "job_title")
    autocomplete_fields = ("user",)
