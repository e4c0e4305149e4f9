from datetime import date, timedelta

from django import forms
from django.utils import timezone

from billing.models import Customer, Invoice
from payments.models import PaymentTransaction


class PreferencesForm(forms.Form):
    auto_pay = forms.BooleanField(required=False, label="Pay invoices automatically from my primary method")
    notify_email = forms.BooleanField(required=False, label="Email me invoices and reminders")
    notify_sms = forms.BooleanField(required=False, label="SMS me reminders")


class ProfileForm(forms.ModelForm):
    class Meta:
        model = Customer
        fields = ["first_name", "last_name", "company_name", "phone", "address_line1", "address_line2", "city",
                  "province", "postal_code"]
        help_texts = {"phone": "International form, e.g. +27821234567."}


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


class UsageRangeForm(forms.Form):
    service = forms.IntegerField()
    date_from = forms.DateField(required=False)
    date_to = forms.DateField(required=False)
