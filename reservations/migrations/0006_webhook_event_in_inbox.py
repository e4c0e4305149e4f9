# The reservation's webhook_event now points at inbox.WebhookEvent: the same table, so state only
# (no constraint is dropped or re-created).

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("inbox", "0001_initial"),
        ("reservations", "0005_refund_state_labels"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name="reservation",
                    name="webhook_event",
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL,
                                            related_name="reservations", to="inbox.webhookevent"),
                ),
            ],
        ),
    ]
