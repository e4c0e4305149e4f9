"""UsageRecord and UsageThresholdAlert moved to the `usage` app (state only).

The tables `billing_usagerecord` and `billing_usagethresholdalert` stay where they are, with their
rows, constraints and indexes: usage/migrations/0001_initial.py takes the models over in the
migration state with `db_table` set to these names. No SQL runs here.
"""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0006_choice_labels'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name='UsageRecord'),
                migrations.DeleteModel(name='UsageThresholdAlert'),
            ],
            database_operations=[],
        ),
    ]
