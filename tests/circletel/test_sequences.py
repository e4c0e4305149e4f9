
import pytest
from django.db import transaction

from billing.services.customers import customer_create
from circletel.models import Sequence
from circletel.sequences import format_number, next_value, next_values
from tests.concurrency import run_concurrently


def test_format_number_pads_to_five_digits_and_grows_beyond():
    assert format_number("CT", 2026, 42) == "CT-2026-00042"
    assert format_number("INV", 2027, 123456) == "INV-2027-123456"


@pytest.mark.django_db
def test_next_values_are_consecutive_and_rollback_returns_them():
    with transaction.atomic():
        assert next_value("t") == 1
        assert list(next_values("t", 3)) == [2, 3, 4]
    with pytest.raises(RuntimeError), transaction.atomic():
        assert next_value("t") == 5
        raise RuntimeError("roll back")
    with transaction.atomic():
        assert next_value("t") == 5  # the rolled-back number is reused: no gap
    assert Sequence.objects.get(name="t").value == 5


@pytest.mark.django_db(transaction=True)
def test_next_values_refuses_outside_a_transaction():
    with pytest.raises(RuntimeError):
        next_value("t")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_customer_creations_get_fifty_distinct_numbers():
    outcomes = run_concurrently(
        lambda i: customer_create(first_name="C", last_name=str(i), email=f"c{i}@example.co.za").account_number,
        [(i,) for i in range(50)])
    errors = [o for o in outcomes if isinstance(o, Exception)]
    numbers = [o for o in outcomes if not isinstance(o, Exception)]
    assert errors == []
    assert len(numbers) == 50 and len(set(numbers)) == 50
    assert sorted(int(n.split("-")[-1]) for n in numbers) == list(range(1, 51))
