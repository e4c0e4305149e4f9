from circletel.schedules import ScheduleSpec

SCHEDULES = [
    ScheduleSpec("process_debit_orders", "payments.tasks.process_debit_orders", "0 6 * * *",
                 "06:00 SAST: TwoDay debit-order batch for invoices due by the action date"),
    ScheduleSpec("reconcile_pending_payments", "payments.tasks.reconcile_pending_payments", "30 */2 * * *",
                 "every 2 hours: load reports, authorisation and batch status of submitted debit-order runs"),
    ScheduleSpec("reconcile_netcash_statement", "payments.tasks.reconcile_netcash_statement", "45 8 * * *",
                 "08:45 SAST: yesterday's full NetCash statement (ready from 08:30): settle / return debit orders, "
                 "confirm Pay Now payments, the daily reconciliation report"),
    ScheduleSpec("reconcile_netcash_interim", "payments.tasks.reconcile_netcash_interim", "15 10-18/2 * * *",
                 "10:15-18:15 SAST every 2 hours: today's interim statement (Pay Now EFT and cash)"),
    ScheduleSpec("check_pending_mandates", "payments.tasks.check_pending_mandates", "20 9 * * *",
                 "09:20 SAST: ask NetCash about eMandates pending longer than a day"),
    ScheduleSpec("issue_missing_receipts", "payments.tasks.issue_missing_receipts", "*/15 * * * *",
                 "every 15 minutes: receipt, PDF and email for completed payments whose receipt task was lost"),
    ScheduleSpec("resolve_unknown_refunds", "payments.tasks.resolve_unknown_refunds", "*/10 * * * *",
                 "every 10 minutes: ask the provider again (same idempotency key) about refunds whose outcome is unknown"),
    ScheduleSpec("sweep_pending_card_attempts", "payments.tasks.sweep_pending_card_attempts", "25 * * * *",
                 "hourly at :25: card attempts whose Stripe webhook has not come after 15 minutes are asked of "
                 "Stripe (booked if it charged); those unfinished after a day are cancelled"),
    ScheduleSpec("prune_idempotency_keys", "payments.tasks.prune_idempotency_keys", "40 * * * *",
                 "hourly at :40: delete API Idempotency-Keys past their 24 h expiry"),
]
