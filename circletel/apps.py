from django.apps import AppConfig


class CircletelConfig(AppConfig):
    name = "circletel"
    verbose_name = "Platform"

    def ready(self):
        from circletel import checks  # noqa: F401  (registers system checks)
        from circletel.admin_tools import console_admins_wrap

        # django.contrib.admin comes before us in INSTALLED_APPS, so its ready() has already imported every
        # app's admin module: third-party admins (auth, django-q2, DRF tokens, axes) get bounded search too.
        console_admins_wrap()
