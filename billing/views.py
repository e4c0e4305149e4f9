from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME, get_user_model, login
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from billing.forms import PasswordResetRequestForm, SignUpForm, SignUpPasswordForm
from billing.services.customers import (
    SIGN_UP_LINK_DAYS,
    CustomerError,
    customer_sign_up_confirm,
    customer_sign_up_pending,
    customer_sign_up_request,
    password_reset_request,
)
from circletel.throttle import client_ip, over_limit

# Each accepted sign-up sends an email: a cap per client address keeps the form from being a mail cannon.
SIGN_UP_LIMIT = 20
SIGN_UP_WINDOW = 3600
SIGN_UP_TOO_MANY = "Too many sign-ups from your network in the last hour. Please try again later."
# The same cap for password reset requests; per email address the service drops extras quietly.
PASSWORD_RESET_LIMIT = 20
PASSWORD_RESET_WINDOW = 3600
PASSWORD_RESET_TOO_MANY = "Too many password reset requests from your network in the last hour. Please try again later."


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
    """Step 1: the details, then the same "check your email" page whether or not the address has an
    account (the email itself differs; see `customer_sign_up_request`)."""
    if request.user.is_authenticated:
        return redirect("home")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if over_limit(f"billing:sign_up:{client_ip(request)}", limit=SIGN_UP_LIMIT, window=SIGN_UP_WINDOW):
            form.add_error(None, SIGN_UP_TOO_MANY)
            return render(request, "registration/signup.html", {"form": form}, status=429)
        customer_sign_up_request(**form.cleaned_data)
        return redirect("signup_sent")
    return render(request, "registration/signup.html", {"form": form})


def sign_up_sent(request):
    return render(request, "registration/signup_sent.html", {"valid_days": SIGN_UP_LINK_DAYS})


@require_http_methods(["GET", "POST"])
def sign_up_confirm(request, token):
    """Step 2, from the emailed link: choose a password; the account is created and signed in."""
    try:
        pending = customer_sign_up_pending(token=token)
    except CustomerError as exc:
        return render(request, "registration/signup_confirm.html", {"error": exc.message})
    user = get_user_model()(username=pending.email, email=pending.email, first_name=pending.first_name,
                            last_name=pending.last_name)
    form = SignUpPasswordForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        try:
            customer = customer_sign_up_confirm(token=token, password=form.cleaned_data["password1"])
        except CustomerError as exc:
            return render(request, "registration/signup_confirm.html", {"error": exc.message})
        login(request, customer.user, backend="circletel.auth.EmailBackend")
        messages.success(request, f"Welcome to CircleTel. Your account number is {customer.account_number}.")
        return redirect("home")
    return render(request, "registration/signup_confirm.html", {"form": form, "pending": pending})


class PasswordResetView(auth_views.PasswordResetView):
    """`/accounts/password_reset/`: Django's page and its "check your email" answer, but the request
    only counts and queues (`password_reset_request`): no lookup, token or email in the request, so
    the answer and its timing are the same whether or not the address has an account.

    Limits: `PASSWORD_RESET_LIMIT` requests per client address per hour, then HTTP 429 with the form
    (it depends only on the caller's address, never on the email); past
    `PASSWORD_RESET_EMAIL_LIMIT` per email address the same "check your email" page, and nothing sent.
    The link, its token and the confirm pages stay Django's."""

    form_class = PasswordResetRequestForm

    def form_valid(self, form):
        if over_limit(f"accounts:password_reset:ip:{client_ip(self.request)}", limit=PASSWORD_RESET_LIMIT,
                      window=PASSWORD_RESET_WINDOW):
            form.add_error(None, PASSWORD_RESET_TOO_MANY)
            return self.render_to_response(self.get_context_data(form=form), status=429)
        password_reset_request(email=form.cleaned_data["email"])
        return redirect(self.get_success_url())


password_reset = PasswordResetView.as_view()
