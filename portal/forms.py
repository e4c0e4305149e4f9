from datetime import date, timedelta

from django import forms
from django.utils import timezone

from billing.forms import PhoneField
from billing.models import Customer, Invoice
from billing.services.customers import (
    BILLING_DAY_CHOICES,
    CustomerError,
    registration_number_clean,
    vat_number_clean,
)
from payments.models import PaymentTransaction


class PreferencesForm(forms.Form):
    auto_pay = forms.BooleanField(required=False, label="Pay invoices automatically from my primary method")
    notify_email = forms.BooleanField(required=False, label="Email me invoices and reminders")
    notify_sms = forms.BooleanField(required=False, label="SMS me reminders")


class NoEchoTextInput(forms.TextInput):
    """A text box that never renders a value back (bank account numbers are not echoed)."""

    def format_value(self, value):
        return None


SA_BANKS = ["ABSA", "Capitec", "FNB", "Nedbank", "Standard Bank", "TymeBank", "Discovery Bank", "African Bank",
            "Investec", "Other"]


class DebitOrderForm(forms.Form):
    """Bank details for a debit order. Digits are checked by `payment_method_add_debit_order`
    (its `PaymentError` is shown on this form), so the rules live in one place."""

    account_holder = forms.CharField(max_length=60, label="Account holder")
    bank_name = forms.ChoiceField(label="Bank", choices=[("", "Choose your bank"), *[(b, b) for b in SA_BANKS]])
    account_number = forms.CharField(max_length=20, label="Account number",
                                     widget=NoEchoTextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}))
    branch_code = forms.CharField(max_length=8, label="Branch code", widget=forms.TextInput(attrs={"inputmode": "numeric"}))
    account_type = forms.ChoiceField(label="Account type", choices=[("current", "Current / cheque"),
                                                                    ("savings", "Savings")], initial="current")
    make_primary = forms.BooleanField(required=False, initial=True, label="Make this my primary payment method")
    consent = forms.BooleanField(required=True, label="I authorise CircleTel to debit this account",
                                 error_messages={"required": "Tick the box to authorise CircleTel to debit this account."})

    def service_kwargs(self) -> dict:
        d = self.cleaned_data
        return {"account_holder": d["account_holder"], "account_number": d["account_number"],
                "branch_code": d["branch_code"], "account_type": d["account_type"],
                "bank_name": "Bank" if d["bank_name"] == "Other" else d["bank_name"],
                "make_primary": d["make_primary"]}


class ProfileForm(forms.ModelForm):
    """Contact details; business accounts also keep their VAT number (printed on tax invoices) and company
    registration number (sent on their debit-order mandates) here."""

    phone = PhoneField(label="Phone")
    vat_number = forms.CharField(max_length=20, required=False, label="VAT number",
                                 help_text="10 digits starting with 4. Printed on your tax invoices.")
    registration_number = forms.CharField(max_length=30, required=False, label="Company registration number",
                                          help_text="The CIPC number (e.g. 2015/123456/07) or a trust's IT number "
                                                    "(e.g. IT1234/2010). Your debit-order mandate carries it.")

    class Meta:
        model = Customer
        fields = ["first_name", "last_name", "company_name", "phone", "address_line1", "address_line2", "city",
                  "province", "postal_code"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance.is_business:
            del self.fields["vat_number"]  # personal accounts have no VAT number on their invoices
            del self.fields["registration_number"]  # nor a company registration number
        else:
            self.fields["vat_number"].initial = self.instance.vat_number
            self.fields["registration_number"].initial = self.instance.registration_number

    def clean_vat_number(self):
        try:
            return vat_number_clean(self.cleaned_data["vat_number"], account_type=self.instance.account_type)
        except CustomerError as exc:
            raise forms.ValidationError(exc.message) from None

    def clean_registration_number(self):
        try:
            return registration_number_clean(self.cleaned_data["registration_number"],
                                             account_type=self.instance.account_type)
        except CustomerError as exc:
            raise forms.ValidationError(exc.message) from None


class BillingDayForm(forms.Form):
    """A change of billing day: step one shows what it costs, step two (`confirm`) makes it."""

    billing_day = forms.TypedChoiceField(choices=BILLING_DAY_CHOICES, coerce=int, label="New billing day")
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)
    quoted = forms.DecimalField(required=False, max_digits=12, decimal_places=2, widget=forms.HiddenInput)



class CancelServiceForm(forms.Form):
    """A customer's cancellation: step one shows the final amount, step two (`confirm`) cancels."""

    reason = forms.CharField(max_length=300, strip=True, widget=forms.Textarea(attrs={"rows": 2}),
                             label="Why are you cancelling?")
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)
    quoted = forms.DecimalField(required=False, max_digits=12, decimal_places=2, widget=forms.HiddenInput)


class InvoiceFilterForm(forms.Form):
    status = forms.ChoiceField(required=False, choices=[("", "All"), ("open", "Open (unpaid, partial, overdue)"),
                                                        *Invoice.Status.choices])


class PaymentFilterForm(forms.Form):
    status = forms.ChoiceField(required=False, choices=[("", "All"), *PaymentTransaction.Status.choices])
    method = forms.ChoiceField(required=False, choices=[("", "All"), *PaymentTransaction.Method.choices])
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))


class StatementForm(forms.Form):
    date_from = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="To", widget=forms.DateInput(attrs={"type": "date"}))

    @classmethod
    def default_initial(cls, today: date | None = None) -> dict:
        today = today or timezone.localdate()
        return {"date_from": (today - timedelta(days=90)).replace(day=1), "date_to": today}

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end:
            if start > end:
                raise forms.ValidationError("The start date must be on or before the end date.")
            if (end - start).days > 366 * 5:
                raise forms.ValidationError("Choose a range of at most five years.")
        return data
