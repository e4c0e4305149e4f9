"""PDF renders go to the documents queue, which a second django-q2 cluster consumes; everything else
stays on the main queue. Checked with the real ORM broker (the rows django-q2 writes)."""

import os
import subprocess
import sys
from decimal import Decimal

import pytest
from django_q.conf import Conf
from django_q.models import OrmQ

from billing.services.invoices import LineSpec, invoice_create
from circletel import queue
from circletel.models import FollowUp
from payments.services.receipts import receipt_queue
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def orm_broker(monkeypatch):
    monkeypatch.setattr(Conf, "ORM", "default")  # the ORM broker even where REDIS_URL is set (CI)
    monkeypatch.setattr(Conf, "SYNC", False)
    queue.reset()
    yield
    queue.reset()


def queued_by_queue():
    """(queue, task) of every queued task; a follow-up's doorbell is shown as the task its row runs."""
    return sorted((row.key, _work(row)[0]) for row in OrmQ.objects.all())


def _work(row):
    if row.func() == "circletel.tasks.run_follow_up":
        follow = FollowUp.objects.get(pk=row.args()[0])
        return follow.func, tuple(follow.args)
    return row.func(), row.args()


def line():
    return LineSpec(description="Router", amount=Decimal("999.00"), quantity=Decimal("1"), unit_price=Decimal("999.00"))


def test_invoice_and_receipt_pdfs_go_to_the_documents_queue(orm_broker, client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        invoice = invoice_create(customer=CustomerFactory(), invoice_type="equipment", lines=[line()])
        receipt_queue(payment_id=123)

    # Both are follow-up rows (durable intent) whose doorbell rings on the documents queue.
    documents = [_work(row) for row in OrmQ.objects.filter(key="documents").order_by("pk")]
    assert documents == [("billing.tasks.render_invoice_pdf", (invoice.pk,)), ("payments.tasks.issue_receipt", (123,))]
    assert set(OrmQ.objects.values_list("key", flat=True)) <= {"documents", "circletel"}

    broker = client.get("/health/").json()["checks"]["broker"]
    assert broker["queues"] == {"circletel": OrmQ.objects.filter(key="circletel").count(), "documents": 2}


def test_an_empty_documents_queue_setting_keeps_renders_on_the_main_queue(orm_broker, settings,
                                                                          django_capture_on_commit_callbacks):
    settings.Q_DOCUMENTS_QUEUE = ""
    with django_capture_on_commit_callbacks(execute=True):
        invoice_create(customer=CustomerFactory(), invoice_type="equipment", lines=[line()])

    assert ("circletel", "billing.tasks.render_invoice_pdf") in queued_by_queue()
    assert not OrmQ.objects.filter(key="documents").exists()


def test_the_documents_cluster_reads_the_documents_queue_with_its_own_worker_count():
    """`Q_CLUSTER_NAME=documents manage.py qcluster` (make run, Procfile) takes the ALT_CLUSTERS entry."""
    code = ("import django; django.setup(); from django_q.conf import Conf; "
            "print(Conf.CLUSTER_NAME, Conf.PREFIX, Conf.WORKERS)")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "circletel.settings_test", "Q_CLUSTER_NAME": "documents",
           "Q_DOCUMENT_WORKERS": "3"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True)

    # Same prefix (the signing salt), so the documents cluster can read what the web process queued.
    assert out.stdout.split() == ["documents", "circletel", "3"]
