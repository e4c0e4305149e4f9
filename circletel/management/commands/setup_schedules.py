from django.core.management.base import BaseCommand
from django.db import transaction
from django_q.models import Schedule

from circletel.schedules import OWNED_PREFIX, declared_schedules, moved_tasks


class Command(BaseCommand):
    help = "Create or update the django-q2 schedules declared in each app's schedules.py (idempotent)."

    def handle(self, *args, **options):
        specs = declared_schedules()
        with transaction.atomic():
            for spec in specs:
                previous_cron = Schedule.objects.filter(name=spec.row_name).values_list("cron", flat=True).first()
                row, created = Schedule.objects.update_or_create(
                    name=spec.row_name,
                    defaults={"func": spec.func, "schedule_type": Schedule.CRON, "cron": spec.cron, "repeats": -1},
                )
                if not created and previous_cron != spec.cron:
                    # django-q2 computes next_run only for new rows: a changed cron must move it too.
                    row.next_run = row.calculate_next_run()
                    row.save(update_fields=["next_run"])
                self.stdout.write(f"{'created' if created else 'updated'} {spec.name}: {spec.cron} -> {spec.func}")
            # Declared rows follow their spec (above); any other row still on a task path that moved is rewritten.
            declared = [s.row_name for s in specs]
            for old, new in moved_tasks().items():
                moved = Schedule.objects.filter(func=old).exclude(name__in=declared)
                for name in moved.values_list("name", flat=True):
                    self.stdout.write(f"moved {name}: {old} -> {new}")
                moved.update(func=new)
            stale = Schedule.objects.filter(name__startswith=OWNED_PREFIX).exclude(name__in=declared)
            for row in stale:
                self.stdout.write(f"removed {row.name}")
            stale.delete()
        self.stdout.write(self.style.SUCCESS(f"{len(specs)} schedules in place."))
