"""The dashboard's "Make primary" and removal pages follow payments.services.methods: an unusable method
(unsigned mandate, expired card) is not offered as primary and a forced post is refused with the reason;
the removal page says what removing really does, auto-pay included. Positive controls beside each."""

import pytest
from django.urls import reverse

from billing.models import BillingAccount
from payments.models import PaymentMethod
from tests.portal.factories import payment_method

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(signed_in_customer):
    return signed_in_customer


def _debit(customer, *, mandate, primary=False, last_four="4567"):
    return PaymentMethod.objects.create(customer=customer, method_type=PaymentMethod.Type.DEBIT_ORDER,
                                        display_name=f"FNB ***{last_four}", last_four=last_four,
                                        mandate_status=mandate, is_primary=primary)


def _primary_pks(customer):
    return list(PaymentMethod.objects.filter(customer=customer, is_primary=True).values_list("pk", flat=True))


def test_make_primary_on_a_pending_debit_order_is_refused_with_the_reason(client, customer):
    fnb = _debit(customer, mandate="active", primary=True, last_four="1111")
    waiting = _debit(customer, mandate="pending", last_four="2222")
    page = client.get(reverse("dashboard:billing")).content.decode()
    assert "FNB ***2222 cannot be primary until its debit-order mandate is signed." in page
    done = client.post(reverse("dashboard:method-primary", args=[waiting.pk]), follow=True).content.decode()
    assert "FNB ***2222 cannot be primary until its debit-order mandate is signed." in done
    assert "is now your primary payment method" not in done
    assert _primary_pks(customer) == [fnb.pk]


def test_make_primary_on_an_expired_card_is_refused_a_valid_card_is_made_primary(client, customer):
    fnb = _debit(customer, mandate="active", primary=True)
    expired = payment_method(customer, last_four="0000")
    PaymentMethod.objects.filter(pk=expired.pk).update(card_expiry_year=2020)
    valid = payment_method(customer, last_four="1111", brand="Mastercard")
    page = client.get(reverse("dashboard:billing")).content.decode()
    assert f'data-testid="primary-refusal-{expired.pk}"' in page
    assert f'data-testid="primary-refusal-{valid.pk}"' not in page  # offered: a normal Make primary form
    assert reverse("dashboard:method-primary", args=[valid.pk]) in page
    assert reverse("dashboard:method-primary", args=[expired.pk]) not in page
    done = client.post(reverse("dashboard:method-primary", args=[expired.pk]), follow=True).content.decode()
    assert "Visa ***0000 cannot be primary: it expired at the end of 12/2020." in done
    assert _primary_pks(customer) == [fnb.pk]
    done = client.post(reverse("dashboard:method-primary", args=[valid.pk]), follow=True).content.decode()
    assert "Mastercard ***1111 is now your primary payment method." in done
    assert _primary_pks(customer) == [valid.pk]


def test_removal_page_says_auto_pay_goes_off_when_the_last_usable_method_goes(client, customer):
    """The probe's path: the primary cannot be collected from (here an expired card) and the signed
    debit order is removed: the page must not say only "does not change"."""
    BillingAccount.objects.filter(customer=customer).update(auto_pay=True)
    expired = payment_method(customer, last_four="0000", primary=True)
    PaymentMethod.objects.filter(pk=expired.pk).update(card_expiry_year=2020)
    fnb = _debit(customer, mandate="active")
    url = reverse("dashboard:method-remove", args=[fnb.pk])
    page = client.get(url).content.decode()
    assert "<strong>auto-pay will be turned off</strong>" in page
    assert "<strong>Visa ***0000</strong>, cannot be collected from because the card has expired" in page
    assert "Your primary payment method does not change." not in page
    done = client.post(url, {"confirm": "yes"}, follow=True).content.decode()
    assert "FNB ***4567 was removed. Auto-pay is off: your primary payment method cannot be collected from" in done
    assert BillingAccount.objects.get(customer=customer).auto_pay is False


def test_positive_control_removal_page_keeps_auto_pay_when_the_primary_is_usable(client, customer):
    BillingAccount.objects.filter(customer=customer).update(auto_pay=True)
    fnb = _debit(customer, mandate="active", primary=True)
    card = payment_method(customer, last_four="1111")
    url = reverse("dashboard:method-remove", args=[card.pk])
    page = client.get(url).content.decode()
    assert '<p data-testid="remove-outcome">Your primary payment method does not change.</p>' in page
    assert "auto-pay will be turned off" not in page
    done = client.post(url, {"confirm": "yes"}, follow=True).content.decode()
    assert "Visa ***1111 was removed." in done and "Auto-pay is off" not in done
    assert BillingAccount.objects.get(customer=customer).auto_pay is True and _primary_pks(customer) == [fnb.pk]


def test_removal_page_says_a_waiting_primary_collects_nothing_yet(client, customer):
    BillingAccount.objects.filter(customer=customer).update(auto_pay=True)
    waiting = _debit(customer, mandate="pending", primary=True)
    expired = payment_method(customer, last_four="0000")
    PaymentMethod.objects.filter(pk=expired.pk).update(card_expiry_year=2020)
    url = reverse("dashboard:method-remove", args=[expired.pk])
    page = client.get(url).content.decode()
    assert ("Your primary payment method does not change, but <strong>FNB ***4567</strong> cannot be collected "
            "from until its debit-order mandate is signed: auto-pay collects nothing until it can be.") in page
    client.post(url, {"confirm": "yes"})
    assert BillingAccount.objects.get(customer=customer).auto_pay is True and _primary_pks(customer) == [waiting.pk]
