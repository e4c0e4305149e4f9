"""Make this package's template tag libraries loadable.

`billing.dashboard` is a package inside the `billing` app, not an app of its own, so Django does not
discover `billing/dashboard/templatetags/`. Until it is listed in TEMPLATES OPTIONS "libraries"
(or made an app), register the libraries with each Django template engine; idempotent.
"""

from importlib import import_module

LIBRARIES = {
    "dashboard_money": "billing.dashboard.templatetags.dashboard_money",
    "dashboard_admin": "billing.dashboard.templatetags.dashboard_admin",
}


def register_template_libraries() -> None:
    from django.template import engines
    from django.template.backends.django import DjangoTemplates

    for engine in engines.all():
        if not isinstance(engine, DjangoTemplates):
            continue
        libraries = engine.engine.template_libraries
        for name, module in LIBRARIES.items():
            if name not in libraries:
                libraries[name] = import_module(module).register
