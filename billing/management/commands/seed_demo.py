"""Load realistic South African demo data. Idempotent: running it twice changes nothing.

Each app adds its part through a `seed_demo(stdout)` function in `<app>/demo.py`; this command
creates the admin login and the demo customers, then calls those of every installed app in
INSTALLED_APPS order (which is dependency order). The command names no app: an app above billing
(payments, usage, ...) takes part by having a `demo.py`, never by billing importing it.
"""

from importlib import import_module

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from billing.models import Customer
from billing.services.customers import customer_sign_up

ADMIN_EMAIL = "admin@circletel.co.za"
ADMIN_PASSWORD = "circletel-admin"  # demo only; printed by `make run`
DEMO_PASSWORD = "circletel-demo"

DEMO_CUSTOMERS = [
    # first, last, email, phone, type, company, address, city, province, postal
    ("Thandiwe", "Nkosi", "thandiwe.nkosi@example.co.za", "+27821234501", "personal", "",
     "14 Jacaranda Avenue, Lynnwood", "Pretoria", "Gauteng", "0081"),
    ("Pieter", "van der Merwe", "pieter.vdm@example.co.za", "+27831234502", "personal", "",
     "7 Protea Road, Durbanville", "Cape Town", "Western Cape", "7550"),
    ("Sipho", "Dlamini", "sipho@dlamini-logistics.example.co.za", "+27741234503", "business", "Dlamini Logistics (Pty) Ltd",
     "Unit 4, 22 Umgeni Business Park", "Durban", "KwaZulu-Natal", "4001"),
    ("Aisha", "Patel", "aisha.patel@example.co.za", "+27761234504", "personal", "",
     "88 Main Reef Road, Fordsburg", "Johannesburg", "Gauteng", "2033"),
    ("Johan", "Botha", "johan@karoo-guesthouse.example.co.za", "+27721234505", "business", "Karoo Guesthouse CC",
     "3 Church Street", "Graaff-Reinet", "Eastern Cape", "6280"),
]


def app_demo_modules() -> list[str]:
    """`<app>.demo` for every installed app, in INSTALLED_APPS order (apps without one are skipped)."""
    return [f"{config.name}.demo" for config in apps.get_app_configs()]


class Command(BaseCommand):
    help = "Load idempotent demo data (customers with logins, and each app's demo records)."

    def handle(self, *args, **options):
        if not settings.DEMO_DATA_ALLOWED:
            # It creates a superuser with a published password: never on a production database by accident.
            raise CommandError("seed_demo creates an admin with a published password and is off with DEBUG=false. "
                               "Set DEMO_DATA_ALLOWED=true for a demo or staging database.")
        User = get_user_model()
        with transaction.atomic():
            admin = User.objects.filter(username=ADMIN_EMAIL).first()
            if admin is None:
                User.objects.create_superuser(username=ADMIN_EMAIL, email=ADMIN_EMAIL, password=ADMIN_PASSWORD)
            for first, last, email, phone, kind, company, addr, city, prov, postal in DEMO_CUSTOMERS:
                if Customer.objects.filter(email__iexact=email).exists():
                    continue
                customer = customer_sign_up(email=email, password=DEMO_PASSWORD, first_name=first, last_name=last,
                                            phone=phone, account_type=kind, company_name=company)
                Customer.objects.filter(pk=customer.pk).update(address_line1=addr, city=city, province=prov,
                                                               postal_code=postal)
        for module_name in app_demo_modules():
            try:
                module = import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name != module_name:
                    raise
                continue
            module.seed_demo(self.stdout)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(f"  Admin login:    {ADMIN_EMAIL} / {ADMIN_PASSWORD}   (sign in at /admin/)")
        self.stdout.write(f"  Customer login: {DEMO_CUSTOMERS[0][2]} / {DEMO_PASSWORD}   (any demo customer)")
