from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import User

from billing.models import Customer
from billing.services.customers import (
    BILLING_DAY_CHOICES,
    CustomerError,
    registration_number_clean,
    vat_number_clean,
)
from billing.services.orders import phone_normalise
from circletel.auth import account_email, normalise_email

PHONE_INVALID = "Enter a valid phone number, e.g. 082 123 4567 or +27 82 123 4567."


class PhoneField(forms.CharField):
    """A phone number typed the way people write it (spaces, dashes, brackets, a leading 0), cleaned
    to E.164 by the project's one normaliser (`phone_normalise`, also used for order imports)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 25)
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", "e.g. 082 123 4567 or +27 82 123 4567.")
        kwargs.setdefault("widget", forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}))
        super().__init__(**kwargs)

    def clean(self, value):
        try:
            return phone_normalise(super().clean(value))
        except ValueError:
            raise forms.ValidationError(PHONE_INVALID, code="invalid_phone") from None


class AccountEmailField(forms.EmailField):
    """An email that names an account, cleaned to its account key (`circletel.auth.normalise_email`)
    before it is validated: ` Thandi@Example.co.za`, `ｔhandi@example.co.za` and `thandı@example.co.za`
    all clean to `thandi@example.co.za`, so every form and the sign-in lockout see one account.

    `new_account=True` (sign-up) refuses addresses whose look-alike letters we would have to fold
    into another mailbox (`circletel.auth.account_email`); the answer depends only on what was typed,
    never on whether an account exists."""

    def __init__(self, *, new_account: bool = False, **kwargs):
        kwargs.setdefault("max_length", 254)
        super().__init__(**kwargs)
        self.new_account = new_account

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return value
        if not self.new_account:
            return normalise_email(value)
        try:
            return account_email(value)
        except ValueError as exc:
            raise forms.ValidationError(str(exc), code="invalid") from None


class EmailAuthenticationForm(AuthenticationForm):
    username = AccountEmailField(label="Email", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}))


class PasswordResetRequestForm(forms.Form):
    """The password reset form: the email only. What happens next is `password_reset_request`."""

    email = AccountEmailField(label="Email", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}))


class SignUpForm(forms.Form):
    """Step 1 of sign-up: who you are. The password is chosen from the emailed link (SignUpPasswordForm).

    Nothing here looks at whether the email has an account: the page must answer the same either way."""

    first_name = forms.CharField(max_length=100)
    last_name = forms.CharField(max_length=100)
    email = AccountEmailField(new_account=True)
    phone = PhoneField()
    account_type = forms.ChoiceField(choices=Customer.AccountType.choices, initial=Customer.AccountType.PERSONAL)
    company_name = forms.CharField(max_length=200, required=False)
    vat_number = forms.CharField(max_length=20, required=False, label="VAT number",
                                 help_text="Business accounts registered for VAT: 10 digits starting with 4. "
                                           "It is printed on your tax invoices.")
    registration_number = forms.CharField(max_length=30, required=False, label="Company registration number",
                                          help_text="Business accounts: the CIPC number (e.g. 2015/123456/07) or a "
                                                    "trust's IT number (e.g. IT1234/2010). Your debit-order mandate "
                                                    "carries it.")
    billing_day = forms.TypedChoiceField(choices=BILLING_DAY_CHOICES, coerce=int, initial=1, required=False,
                                         empty_value=1, label="Billing day",
                                         help_text="The day each month your services are invoiced. "
                                                   "You can change it later from your profile.")

    def clean(self):
        cleaned = super().clean()
        business = cleaned.get("account_type") == Customer.AccountType.BUSINESS
        if business and not cleaned.get("company_name"):
            self.add_error("company_name", "A business account needs a company name.")
        if "vat_number" in cleaned and "account_type" in cleaned:
            try:
                cleaned["vat_number"] = vat_number_clean(cleaned["vat_number"], account_type=cleaned["account_type"])
            except CustomerError as exc:
                self.add_error("vat_number", exc.message)
        if "registration_number" in cleaned and "account_type" in cleaned:
            try:
                cleaned["registration_number"] = registration_number_clean(cleaned["registration_number"],
                                                                           account_type=cleaned["account_type"])
            except CustomerError as exc:
                self.add_error("registration_number", exc.message)
        return cleaned


class SignUpPasswordForm(forms.Form):
    """Step 2 of sign-up: the password, checked by the password validators against the new `user`
    (unsaved: its email and names come from the sign-up link)."""

    password1 = forms.CharField(label="Password", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
                                help_text=password_validation.password_validators_help_text_html())
    password2 = forms.CharField(label="Confirm password", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean(self):
        cleaned = super().clean()
        p1, p2 = cleaned.get("password1"), cleaned.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", "The two passwords do not match.")
        if p1 and not self.errors.get("password2"):
            try:
                password_validation.validate_password(p1, self.user)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned
