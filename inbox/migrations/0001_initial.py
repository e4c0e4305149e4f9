# WebhookEvent moves here from payments without touching the database: the table keeps its name
# (payments_webhookevent), its constraint and its indexes. payments 0005 removes it from payments'
# state, after reservations 0006 points its foreign key here.

from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("payments", "0004_choice_labels"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="WebhookEvent",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("provider", models.CharField(max_length=20)),
                        ("event_id", models.CharField(max_length=200)),
                        ("event_type", models.CharField(blank=True, max_length=100)),
                        ("body", models.TextField()),
                        ("headers", models.JSONField(blank=True, default=dict)),
                        ("status", models.CharField(choices=[("pending", "Pending"), ("processing", "Processing"), ("processed", "Processed"), ("failed", "Failed"), ("ignored", "Ignored")], default="pending", max_length=10)),
                        ("attempts", models.PositiveSmallIntegerField(default=0)),
                        ("received_at", models.DateTimeField(auto_now_add=True)),
                        ("processing_started_at", models.DateTimeField(blank=True, null=True)),
                        ("processed_at", models.DateTimeField(blank=True, null=True)),
                        ("next_attempt_at", models.DateTimeField(blank=True, null=True)),
                        ("error", models.TextField(blank=True)),
                    ],
                    options={
                        "db_table": "payments_webhookevent",
                        "ordering": ["-received_at"],
                        "indexes": [models.Index(fields=["status", "next_attempt_at"], name="webhookevent_status_next_idx"), models.Index(fields=["provider", "-received_at"], name="webhookevent_provider_recv_idx")],
                        "constraints": [models.UniqueConstraint(fields=("provider", "event_id"), name="webhookevent_unique_provider_event")],
                    },
                ),
            ],
        ),
    ]
