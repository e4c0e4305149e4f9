"""Take over UsageRecord and UsageThresholdAlert from billing (state only).

The tables already exist (created by billing/migrations/0001-0002 as `billing_usagerecord` and
`billing_usagethresholdalert`); billing/migrations/0007 dropped the models from billing's state
without touching the database. This migration adds them to usage's state with the same fields,
constraints, index names and `db_table`, so no SQL runs and no row is copied.
"""

import django.db.models.deletion
import django.db.models.expressions
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('billing', '0007_usage_models_moved_to_usage_app'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='UsageRecord',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('date', models.DateField()),
                        ('upload_mb', models.DecimalField(decimal_places=2, default=0, max_digits=14)),
                        ('download_mb', models.DecimalField(decimal_places=2, default=0, max_digits=14)),
                        ('total_mb', models.GeneratedField(db_persist=True, expression=django.db.models.expressions.CombinedExpression(models.F('upload_mb'), '+', models.F('download_mb')), output_field=models.DecimalField(decimal_places=2, max_digits=15))),
                        ('cycle_start', models.DateField(help_text='Start of the billing cycle this day belongs to.')),
                        ('source', models.CharField(choices=[('interstellio', 'Interstellio'), ('manual', 'Manual'), ('estimated', 'Estimated')], default='interstellio', max_length=12)),
                        ('reason', models.TextField(blank=True, help_text='Required for manual corrections.')),
                        ('updated_by', models.CharField(blank=True, max_length=150)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('service', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='usage_records', to='billing.customerservice')),
                    ],
                    options={
                        'db_table': 'billing_usagerecord',
                        'ordering': ['service_id', '-date'],
                        'indexes': [models.Index(fields=['service', 'cycle_start'], name='usage_service_cycle_idx')],
                        'constraints': [
                            models.UniqueConstraint(fields=('service', 'date'), name='usage_one_row_per_service_day'),
                            models.CheckConstraint(condition=models.Q(('download_mb__gte', 0), ('upload_mb__gte', 0)), name='usage_non_negative'),
                            models.CheckConstraint(condition=models.Q(models.Q(('source', 'manual'), _negated=True), models.Q(('reason', ''), _negated=True), _connector='OR'), name='usage_manual_requires_reason'),
                        ],
                    },
                ),
                migrations.CreateModel(
                    name='UsageThresholdAlert',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('cycle_start', models.DateField()),
                        ('threshold', models.PositiveSmallIntegerField(help_text='Percent of the cap: 80 or 95.')),
                        ('used_mb', models.DecimalField(decimal_places=2, max_digits=15)),
                        ('cap_mb', models.DecimalField(decimal_places=2, max_digits=15)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('service', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='usage_alerts', to='billing.customerservice')),
                    ],
                    options={
                        'db_table': 'billing_usagethresholdalert',
                        'ordering': ['-created_at'],
                        'constraints': [
                            models.UniqueConstraint(fields=('service', 'cycle_start', 'threshold'), name='usage_alert_once_per_cycle'),
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
