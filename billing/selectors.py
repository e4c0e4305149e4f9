"""Billing reads shared by the apps above (portal pages and APIs, the payments API)."""

from __future__ import annotations

from django.http import Http404

from billing.models import Customer


def customer_for_user(user) -> Customer:
    """The signed-in user's customer with its billing account (one query); Http404 when none."""
    if not getattr(user, "is_authenticated", False):
        raise Http404("Not signed in.")
    try:
        return Customer.objects.select_related("billing_account").get(user_id=user.pk)
    except Customer.DoesNotExist:
        raise Http404("This sign-in is not linked to a customer account.")
