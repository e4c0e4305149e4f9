import factory

from notifications.models import NotificationLog


class NotificationLogFactory(factory.django.DjangoModelFactory):
    """A queued row as `notify` writes it (already rendered)."""

    class Meta:
        model = NotificationLog

    recipient = factory.Sequence(lambda n: f"person{n}@example.co.za")
    channel = NotificationLog.Channel.EMAIL
    event = "service_reactivated"
    subject = "Your Fibre 50/50 service is back on"
    body = "Hi Thandi,\n\nGood news: your Fibre 50/50 service has been reactivated."
    html_body = "<!doctype html><p>Good news</p>"
    context = factory.LazyFunction(lambda: {"customer_name": "Thandi", "package_name": "Fibre 50/50"})
