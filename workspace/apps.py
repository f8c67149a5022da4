from django.apps import AppConfig


class WorkspaceConfig(AppConfig):
    """The gym workspace: the admin site where a gym's own staff work, inside their gym (workspace.admin)."""

    name = "workspace"
    verbose_name = "Gym workspace"
