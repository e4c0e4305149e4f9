"""Point the existing content types of the moved models at the usage app.

A database migrated while the models lived in billing has `django_content_type` rows
(billing, usagerecord) and (billing, usagethresholdalert); admin log entries and permissions
(and any group holding them) reference those rows. Relabelling them keeps those references
instead of leaving stale billing rows and creating new usage ones. On a fresh database there
is nothing to relabel yet (content types are created after migrate), so this is a no-op.
"""

from django.db import migrations

MODELS = ("usagerecord", "usagethresholdalert")


def _relabel(apps, schema_editor, old, new):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    for model in MODELS:
        if ContentType.objects.using(db).filter(app_label=new, model=model).exists():
            continue  # already there (e.g. created by a run that skipped migrations): leave both as they are
        ContentType.objects.using(db).filter(app_label=old, model=model).update(app_label=new)


def forwards(apps, schema_editor):
    _relabel(apps, schema_editor, "billing", "usage")


def backwards(apps, schema_editor):
    _relabel(apps, schema_editor, "usage", "billing")


class Migration(migrations.Migration):

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('usage', '0001_initial'),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
    ]
