from django.apps import AppConfig


class CircletelConfig(AppConfig):
    name = "circletel"
    verbose_name = "Platform"

    def ready(self):
        from circletel import checks  # noqa: F401  (registers system checks)
