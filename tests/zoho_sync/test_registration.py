"""The ZOHO mirror learns its models by registration from the apps that own them."""

def test_the_mirrored_models_are_registered_by_their_apps():
    """zoho_sync imports no domain app (issue 14): billing and payments register their models."""
    from zoho_sync.services.sync import DEPENDENCY_ORDER, ENTITY_MODELS, RELATED_MODELS, model_for

    assert ENTITY_MODELS == {"customer": "billing.Customer", "service": "billing.CustomerService",
                             "invoice": "billing.Invoice", "payment": "payments.PaymentTransaction"}
    assert list(ENTITY_MODELS) == list(DEPENDENCY_ORDER)
    assert RELATED_MODELS == {"credit_note": "billing.CreditNote"}
    assert model_for("invoice")._meta.label == "billing.Invoice"
