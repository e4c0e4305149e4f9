"""Print the URLs to paste into the NetCash portal (they carry secrets: run it on the server only)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from circletel.checks import NOTIFY_TOKEN_MIN_LENGTH
from payments.clients import netcash
from payments.services.mandates import mandate_postback_token


class Command(BaseCommand):
    help = ("Print the Pay Now Notify, Accept/Decline/Redirect and eMandate postback URLs for the NetCash portal "
            "(from SITE_URL, NETCASH_NOTIFY_TOKEN and NETCASH_PAYNOW_HMAC_SECRET).")

    def handle(self, *args, **options):
        token = settings.NETCASH.get("NOTIFY_TOKEN") or ""
        if len(token) < NOTIFY_TOKEN_MIN_LENGTH:
            raise CommandError(f"NETCASH_NOTIFY_TOKEN is missing or shorter than {NOTIFY_TOKEN_MIN_LENGTH} characters.")
        if not netcash.hmac_configured():
            raise CommandError("NETCASH_PAYNOW_HMAC_SECRET is not set (the mandate postback URL is derived from it).")
        site = settings.SITE_URL
        self.stdout.write("NetCash portal, Services -> Pay Now -> payment notifications:")
        self.stdout.write(f"  Notify URL:   {site}{reverse('netcash-notify', args=[token])}")
        for name in ("Accept", "Decline", "Redirect"):
            self.stdout.write(f"  {name + ' URL:':<13} {site}{reverse('payments:netcash-return')}")
        self.stdout.write("NetCash portal, debit orders -> eMandate postback URL:")
        self.stdout.write(f"  {site}{reverse('netcash-mandate-postback', args=[mandate_postback_token()])}")
        self.stdout.write("These URLs are secrets: keep them out of tickets and chat. Rotating NETCASH_NOTIFY_TOKEN "
                          "or NETCASH_PAYNOW_HMAC_SECRET changes them; update the portal at the same time.")
