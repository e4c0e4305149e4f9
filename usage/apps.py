from django.apps import AppConfig


class UsageConfig(AppConfig):
    """Daily data usage per service: the Interstellio sync, staff corrections and the data-cap warnings.

    Sits above billing (it reads `CustomerService` and billing periods); billing never imports it.
    """

    name = "usage"
    verbose_name = "Usage"

    def ready(self):
        from usage import checks  # noqa: F401  (registers usage.E001, the Interstellio time zone check)
