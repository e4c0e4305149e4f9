"""A deposit on a listing priced in USD is written in USD in its emails (never "R")."""

from decimal import Decimal

from django.template.loader import render_to_string


def test_deposit_emails_show_the_listing_currency():
    context = {"buyer_name": "Ann", "item_name": "Milo (Border Collie)", "amount": Decimal("150"),
               "reference": "RSV-1", "balance_due": Decimal("450"), "currency": "USD"}
    text = render_to_string("emails/deposit_confirmed.txt", context)
    assert "USD 150.00" in text and "USD 450.00" in text and "R 150.00" not in text
    rand = render_to_string("emails/deposit_confirmed.txt", {**context, "currency": "ZAR"})
    assert "R 150.00" in rand  # positive control: rands keep the house format
