# A Stripe refund answered pending / requires_action waits in refund_state "pending" (choices only; no
# schema change): see Reservation's docstring and reservations/services/deposits.py.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('reservations', '0003_deposit_message'),
    ]

    operations = [
        migrations.AlterField(
            model_name='reservation',
            name='refund_state',
            field=models.CharField(blank=True, choices=[('', '-'), ('requested', 'Requested'), ('failed', 'Failed (will retry)'), ('pending', 'Pending at provider'), ('succeeded', 'Succeeded')], default='', max_length=10),
        ),
    ]
