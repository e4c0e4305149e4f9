from django.contrib import messages
from django.contrib.auth import login
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from billing.forms import SignUpForm
from billing.services.customers import CustomerError, customer_sign_up


def home(request):
    customer = getattr(request.user, "customer", None) if request.user.is_authenticated else None
    return render(request, "home.html", {"customer": customer})


@require_http_methods(["GET", "POST"])
def sign_up(request):
    if request.user.is_authenticated:
        return redirect("home")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            customer = customer_sign_up(
                email=data["email"], password=data["password1"], first_name=data["first_name"],
                last_name=data["last_name"], phone=data["phone"], account_type=data["account_type"],
                company_name=data["company_name"],
            )
        except CustomerError as exc:
            form.add_error(exc.extra.get("field"), exc.message)
        else:
            login(request, customer.user, backend="circletel.auth.EmailBackend")
            messages.success(request, f"Welcome to CircleTel. Your account number is {customer.account_number}.")
            return redirect("home")
    return render(request, "registration/signup.html", {"form": form})
