"""Feature detection for pieces other apps provide (payment methods, PDFs, lifecycle, pay-now).

Each helper answers None when its provider has not landed, so pages and APIs can hide a button
instead of failing. Nothing here writes.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from importlib import import_module

from django.apps import apps
from django.urls import NoReverseMatch, reverse


def optional_attr(module: str, *names: str) -> Callable | None:
    """The first attribute of `module` among `names`, or None when the module or names are missing."""
    try:
        mod = import_module(module)
    except ImportError:
        return None
    for name in names:
        fn = getattr(mod, name, None)
        if fn is not None:
            return fn
    return None


def payment_method_model():
    try:
        return apps.get_model("payments", "PaymentMethod")
    except LookupError:
        return None


def payment_method_service(action: str) -> Callable | None:
    """`set_primary`, `delete`, `add_card` or `add_debit_order` from payments.services.methods."""
    return optional_attr("payments.services.methods", f"payment_method_{action}")


def invoice_pdf_renderer() -> Callable | None:
    """The billing developer's `fn(invoice) -> bytes` (or a saved FieldFile) for on-demand PDFs."""
    for module in ("billing.services.pdf", "billing.services.invoice_pdf", "billing.services.pdfs",
                   "billing.pdf", "billing.services.invoices"):
        fn = optional_attr(module, "invoice_pdf_bytes", "invoice_render_pdf", "render_invoice_pdf",
                           "invoice_pdf_render", "invoice_pdf")
        if fn is not None:
            return fn
    return None


def lifecycle_function(action: str) -> Callable | None:
    """`service_activate|suspend|reactivate|cancel` from billing.services.lifecycle."""
    return optional_attr("billing.services.lifecycle", f"service_{action}")


def call_with_supported_kwargs(fn: Callable, **candidates):
    """Call `fn` with the keyword arguments it declares (signatures differ between providers)."""
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return fn(**{k: v for k, v in candidates.items() if v is not None})
    return fn(**{k: v for k, v in candidates.items() if k in params and (v is not None or k == "kind")})


_PAY_ROUTES = ("payments:invoice_pay", "payments:pay_invoice", "payments:pay", "invoice_pay", "pay_invoice")


def pay_now_url(invoice) -> str | None:
    """URL of the payments developer's "pay an invoice" page, or None while it does not exist."""
    for name in _PAY_ROUTES:
        for args in ((invoice.number,), (invoice.pk,)):
            try:
                return reverse(name, args=args)
            except NoReverseMatch:
                continue
    return None


def admin_changelist_url(app_label: str, model: str, query: str = "") -> str | None:
    try:
        url = reverse(f"admin:{app_label}_{model}_changelist")
    except NoReverseMatch:
        return None
    return f"{url}?{query}" if query else url
