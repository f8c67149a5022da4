from django.db import models


class RoleName(models.TextChoices):
    OWNER = "owner", "Owner"
    MANAGER = "manager", "Manager"
    SALES = "sales", "Sales"
