from billing.models.customers import BillingAccount, Customer, Order, OrderIssue  # noqa: F401
from billing.models.invoices import CreditNote, Invoice, InvoiceLine, LedgerEntry  # noqa: F401
from billing.models.services import CustomerService, ServiceActionLog, Suspension  # noqa: F401
