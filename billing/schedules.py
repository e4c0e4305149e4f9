"""Billing schedules (cron in SAST). Installed by `manage.py setup_schedules`."""

from circletel.schedules import ScheduleSpec

SCHEDULES = [
    ScheduleSpec("invoice_run", "billing.tasks.run_invoice_run", "0 2 * * *",
                 "Daily 02:00 SAST: recurring invoices for services billed within the lead days."),
    ScheduleSpec("dunning", "billing.tasks.run_dunning", "0 7 * * *",
                 "Daily 07:00 SAST: overdue marking, pre-due and overdue reminders, non-payment suspension."),
]
