from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission

OWNER, MANAGER, SALES = "owner", "manager", "sales"
MANAGERS = frozenset({OWNER, MANAGER})
EVERYONE = frozenset({OWNER, MANAGER, SALES})


def role_of(user: Any) -> str | None:
    return user.role.name if user.role_id else None


class IsGymMember(BasePermission):
    """Signed in, active, and on a gym's staff. Platform superusers use the admin instead."""

    message = "Sign in as a member of a gym's staff."

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and user.gym_id)


class RolePermission(IsGymMember):
    """A read needs one of the view's `read_roles` (everyone in the gym, by default); a write one of its roles
    for it: the view's `action_roles[action]` where it names the action (deleting a lead, say), else its
    `write_roles`.
    """

    def has_permission(self, request: Any, view: Any) -> bool:
        if not super().has_permission(request, view):
            return False
        if request.method in SAFE_METHODS:
            allowed: frozenset[str] = getattr(view, "read_roles", EVERYONE)
        else:
            action_roles: dict[str, frozenset[str]] = getattr(view, "action_roles", {})
            write_roles: frozenset[str] = getattr(view, "write_roles", EVERYONE)
            allowed = action_roles.get(getattr(view, "action", None) or "", write_roles)
        if role_of(request.user) in allowed:
            return True
        self.message = f"Only {' and '.join(sorted(allowed))} staff may do this."
        return False
