from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule

from circletel.schedules import OWNED_PREFIX, declared_schedules, moved_tasks


class Command(BaseCommand):
    help = "Create or update the django-q2 schedules declared in each app's schedules.py (idempotent)."

    def handle(self, *args, **options):
        specs = declared_schedules()
        with transaction.atomic():
            for spec in specs:
                if spec.offset_seconds:
                    self._offset_schedule(spec)
                    continue
                previous_cron = Schedule.objects.filter(name=spec.row_name).values_list("cron", flat=True).first()
                row, created = Schedule.objects.update_or_create(
                    name=spec.row_name,
                    defaults={"func": spec.func, "schedule_type": Schedule.CRON, "cron": spec.cron, "repeats": -1,
                              "minutes": None},
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

    def _offset_schedule(self, spec) -> None:
        """Every minute, `offset_seconds` after it: a MINUTES schedule (django-q2 adds the minutes to next_run,
        so the phase stays). A new row, or one that was another type, starts at the next such second."""
        if spec.cron != "* * * * *" or not 0 < spec.offset_seconds < 60:
            raise CommandError(f"schedule {spec.name}: offset_seconds needs cron '* * * * *' and 1-59 seconds")
        previous = Schedule.objects.filter(name=spec.row_name).values_list("schedule_type", flat=True).first()
        row, created = Schedule.objects.update_or_create(
            name=spec.row_name,
            defaults={"func": spec.func, "schedule_type": Schedule.MINUTES, "minutes": 1, "cron": None, "repeats": -1},
        )
        if created or previous != Schedule.MINUTES:
            now = timezone.now()
            start = now.replace(second=spec.offset_seconds, microsecond=0)
            row.next_run = start if start > now else start + timedelta(minutes=1)
            row.save(update_fields=["next_run"])
        self.stdout.write(f"{'created' if created else 'updated'} {spec.name}: every minute at :{spec.offset_seconds:02d}"
                          f" -> {spec.func}")
