"""WebhookEvent moved from payments to the inbox state-only: a database migrated before the move
keeps every event (same table), and its content type follows it."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("inbox", None)]  # unapplies inbox 0001 and what depends on it (reservations 0006, payments 0005)


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def test_events_stored_before_the_move_are_read_by_the_inbox_after_it():
    _migrate(BEFORE)
    old_apps = MigrationExecutor(connection).loader.project_state(
        [("payments", "0004_choice_labels"), ("reservations", "0005_refund_state_labels"),
         ("contenttypes", "0002_remove_content_type_name")]).apps
    OldEvent = old_apps.get_model("payments", "WebhookEvent")
    ContentType = old_apps.get_model("contenttypes", "ContentType")
    old = OldEvent.objects.create(provider="stripe", event_id="evt_before_move", event_type="charge.refunded",
                                  body="{}", status="failed", error="boom")
    ContentType.objects.get_or_create(app_label="payments", model="webhookevent")
    ContentType.objects.filter(app_label="inbox", model="webhookevent").delete()

    leaf = MigrationExecutor(connection).loader.graph.leaf_nodes()
    _migrate(leaf)

    from django.contrib.contenttypes.models import ContentType as CurrentContentType

    from inbox.models import WebhookEvent

    moved = WebhookEvent.objects.get(pk=old.pk)
    assert (moved.provider, moved.event_id, moved.status, moved.error) == ("stripe", "evt_before_move", "failed", "boom")
    assert WebhookEvent._meta.db_table == "payments_webhookevent"
    CurrentContentType.objects.clear_cache()
    assert CurrentContentType.objects.filter(app_label="inbox", model="webhookevent").count() == 1
    assert not CurrentContentType.objects.filter(app_label="payments", model="webhookevent").exists()
