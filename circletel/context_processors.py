from django.conf import settings


def company(request):
    return {"COMPANY": settings.COMPANY, "SANDBOX_GATEWAY_ENABLED": settings.SANDBOX_GATEWAY_ENABLED}
