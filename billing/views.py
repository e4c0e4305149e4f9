from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME, login
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from billing.forms import SignUpForm
from billing.services.customers import CustomerError, customer_sign_up


def home(request):
    """The public landing page. Signed in, it sends people where their work is (`LOGIN_REDIRECT_URL`
    points here): an explicit, same-site `?next=` first, then a customer's dashboard, then the
    operations console for staff. A sign-in linked to neither gets the page saying so."""
    if not request.user.is_authenticated:
        return render(request, "home.html")
    wanted = request.GET.get(REDIRECT_FIELD_NAME, "")
    if wanted and url_has_allowed_host_and_scheme(wanted, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return redirect(wanted)
    if getattr(request.user, "customer", None) is not None:
        return redirect("dashboard:home")
    if request.user.is_staff:
        return redirect("admin:index")
    return render(request, "home.html")


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
