# WebhookEvent now lives in the inbox app (inbox 0001, same table): remove it from payments' state
# only, and move its content type so admin history and permissions follow it.

from django.db import migrations


def move_content_type(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="inbox", model="webhookevent").exists():
        ContentType.objects.filter(app_label="payments", model="webhookevent").update(app_label="inbox")


def move_content_type_back(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="payments", model="webhookevent").exists():
        ContentType.objects.filter(app_label="inbox", model="webhookevent").update(app_label="payments")


class Migration(migrations.Migration):

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("inbox", "0001_initial"),
        ("reservations", "0006_webhook_event_in_inbox"),
        ("payments", "0004_choice_labels"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(database_operations=[], state_operations=[
            migrations.DeleteModel(name="WebhookEvent"),
        ]),
        migrations.RunPython(move_content_type, move_content_type_back),
    ]
