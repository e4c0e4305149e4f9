from django.core.management.base import BaseCommand

from circletel.models import JobRun
from reservations.tasks import expire_reservations_job


class Command(BaseCommand):
    help = "Expire unpaid deposit reservations whose hold has passed (frees the puppies); retry owed refunds."

    def handle(self, *args, **options):
        run_id = expire_reservations_job(triggered_by="command")
        run = JobRun.objects.get(pk=run_id)
        self.stdout.write(f"expired {run.details.get('expired', 0)} reservation(s); "
                          f"refunds ok {run.details.get('refunds_succeeded', 0)}, "
                          f"failed {run.details.get('refunds_failed', 0)} (job run {run_id}, {run.status})")
