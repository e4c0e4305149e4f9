from datetime import date, timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from reservations.models import Puppy, Reservation


class PuppyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Puppy

    name = factory.Sequence(lambda n: f"Pup{n}")
    slug = factory.Sequence(lambda n: f"pup-{n}")
    breed = "Labrador Retriever"
    sex = Puppy.Sex.FEMALE
    date_of_birth = factory.LazyFunction(lambda: date.today() - timedelta(days=60))
    price = Decimal("12500.00")
    deposit_amount = Decimal("500.00")
    description = "A lovely pup."


class ReservationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Reservation

    puppy = factory.SubFactory(PuppyFactory, status=Puppy.Status.RESERVED)
    buyer_name = "Thandi Nkosi"
    buyer_email = "thandi@example.co.za"
    buyer_phone = "082 123 4567"
    deposit_amount = factory.SelfAttribute("puppy.deposit_amount")
    currency = factory.SelfAttribute("puppy.currency")
    provider = Reservation.Provider.STRIPE
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=30))
