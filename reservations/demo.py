"""Demo data: seven puppies (one reserved with a paid deposit, one sold, one priced in US dollars so the
demo can show PayPal: PayPal takes no ZAR, so it is offered only on that listing, ADR 0014). Idempotent."""

from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from reservations.models import Puppy, Reservation

PUPPIES = [
    # slug, name, breed, sex, age days, price, deposit, description (priced in rand unless CURRENCY says)
    ("bella-labrador", "Bella", "Labrador Retriever", "female", 56, "12500.00", "1500.00",
     "Gentle yellow Labrador girl, KUSA registered, vaccinated and dewormed."),
    ("max-golden", "Max", "Golden Retriever", "male", 63, "15000.00", "2000.00",
     "Playful golden boy from health-tested parents; loves children."),
    ("luna-frenchie", "Luna", "French Bulldog", "female", 70, "28000.00", "5000.00",
     "Blue fawn Frenchie, microchipped, first vaccinations done."),
    ("rocky-boerboel", "Rocky", "Boerboel", "male", 60, "9500.00", "1000.00",
     "Strong, calm Boerboel pup from a working farm line in the Free State."),
    ("daisy-dachshund", "Daisy", "Dachshund", "female", 58, "8500.00", "500.00",
     "Miniature smooth-haired Dachshund, red, very affectionate."),
    ("duke-gsd", "Duke", "German Shepherd", "male", 65, "11000.00", "1500.00",
     "Black-and-tan German Shepherd from SV-titled parents; hips and elbows scored."),
    ("milo-border-collie", "Milo", "Border Collie", "male", 62, "950.00", "150.00",
     "Black-and-white Border Collie, export paperwork ready; priced in US dollars for buyers abroad "
     "(pay the deposit by card or PayPal)."),
]
# Listings not priced in rand. Milo is the one PayPal is offered on.
CURRENCY = {"milo-border-collie": "USD"}


def seed_demo(stdout) -> None:
    today = date.today()
    created = 0
    with transaction.atomic():
        for slug, name, breed, sex, age, price, deposit, description in PUPPIES:
            _, was_created = Puppy.objects.get_or_create(slug=slug, defaults={
                "name": name, "breed": breed, "sex": sex, "date_of_birth": today - timedelta(days=age),
                "price": Decimal(price), "deposit_amount": Decimal(deposit), "description": description,
                "currency": CURRENCY.get(slug, "ZAR"),
            })
            created += was_created
        # Max is reserved with a paid (sandbox) deposit; Duke is sold.
        max_ = Puppy.objects.get(slug="max-golden")
        if not Reservation.objects.filter(puppy=max_).exists():
            now = timezone.now()
            Reservation.objects.create(
                puppy=max_, buyer_name="Thandi Nkosi", buyer_email="thandi@example.co.za", buyer_phone="082 555 0142",
                deposit_amount=max_.deposit_amount, amount_paid=max_.deposit_amount, provider="stripe", sandbox=True,
                checkout_id="cs_sandbox_DEMO0001", external_payment_id="pi_sandbox_DEMO0001",
                status=Reservation.Status.PAID, expires_at=now + timedelta(minutes=30), paid_at=now,
            )
            Puppy.objects.filter(pk=max_.pk).update(status=Puppy.Status.RESERVED)
        Puppy.objects.filter(slug="duke-gsd").exclude(status=Puppy.Status.SOLD).update(status=Puppy.Status.SOLD)
    stdout.write(f"reservations: {created} puppies created, {Puppy.objects.count()} listed "
                 f"({Puppy.objects.filter(status='reserved').count()} reserved, "
                 f"{Puppy.objects.filter(status='sold').count()} sold, "
                 f"{Puppy.objects.exclude(currency='ZAR').count()} priced outside rand, where PayPal is offered)\n")
