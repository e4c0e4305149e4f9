from circletel.schedules import ScheduleSpec

SCHEDULES = [
    ScheduleSpec("process_debit_orders", "payments.tasks.process_debit_orders", "0 6 * * *",
                 "06:00 SAST: TwoDay debit-order batch for invoices due by the action date"),
    ScheduleSpec("reconcile_pending_payments", "payments.tasks.reconcile_pending_payments", "30 */2 * * *",
                 "every 2 hours: load reports / settlement of submitted debit orders"),
    ScheduleSpec("issue_missing_receipts", "payments.tasks.issue_missing_receipts", "*/15 * * * *",
                 "every 15 minutes: receipt, PDF and email for completed payments whose receipt task was lost"),
    ScheduleSpec("resolve_unknown_refunds", "payments.tasks.resolve_unknown_refunds", "*/10 * * * *",
                 "every 10 minutes: ask the provider again (same idempotency key) about refunds whose outcome is unknown"),
    ScheduleSpec("prune_idempotency_keys", "payments.tasks.prune_idempotency_keys", "40 * * * *",
                 "hourly at :40: delete API Idempotency-Keys past their 24 h expiry"),
]
