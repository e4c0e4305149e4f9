"""Authorisation matrix: anonymous -> login redirect / 401; A on B's objects -> 404; staff-only -> 403."""

import pytest

PAGES = ["/dashboard/", "/dashboard/services/", "/dashboard/services/{service}/", "/dashboard/billing/",
         "/dashboard/invoices/", "/dashboard/invoices/{invoice}/", "/dashboard/invoices/{invoice}/pdf/",
         "/dashboard/payments/", "/dashboard/statement/", "/dashboard/usage/", "/dashboard/profile/"]
PAGE_POSTS = ["/dashboard/billing/methods/{method}/primary/", "/dashboard/billing/methods/{method}/remove/"]
API_GETS = ["/api/dashboard/summary", "/api/dashboard/billing", "/api/dashboard/services",
            "/api/dashboard/services/{service}", "/api/dashboard/usage?service={service}", "/api/dashboard/invoices",
            "/api/dashboard/invoices/{invoice}", "/api/dashboard/invoices/{invoice}/pdf",
            "/api/dashboard/payment-methods"]
OWNED = [u for u in PAGES + API_GETS if "{" in u]
STAFF_POSTS = [f"/api/admin/customers/{{customer}}/services/{{service}}/{a}"
               for a in ("activate", "suspend", "reactivate", "cancel")]
STAFF_GETS = ["/api/admin/customers/{customer}/billing", "/api/admin/billing/invoices/{invoice}",
              "/api/admin/customers/{customer}/services/{service}/audit"]


def fmt(url, objs):
    return url.format(service=objs["service"].pk, invoice=objs["invoice"].pk, method=objs["method"].pk,
                      customer=objs["customer"].pk)


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_page_redirects_to_login(client, world, url):
    response = client.get(fmt(url, world["a"]))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("url", PAGE_POSTS)
def test_anonymous_page_post_redirects_and_changes_nothing(client, world, url):
    response = client.post(fmt(url, world["a"]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    world["a"]["method"].refresh_from_db()
    assert world["a"]["method"].is_primary is True and world["a"]["method"].deleted_at is None


@pytest.mark.parametrize("url", API_GETS + STAFF_GETS)
def test_anonymous_api_is_401(client, world, url):
    assert client.get(fmt(url, world["a"])).status_code == 401


@pytest.mark.parametrize("url", ["/api/dashboard/payment-methods/{method}"])
def test_anonymous_payment_method_writes_are_401(client, world, url):
    u = fmt(url, world["a"])
    assert client.patch(u, {"is_primary": True}, content_type="application/json").status_code == 401
    assert client.delete(u).status_code == 401


@pytest.mark.parametrize("url", STAFF_POSTS)
def test_anonymous_staff_post_is_401(client, world, url):
    assert client.post(fmt(url, world["a"]), {"reason": "x"}).status_code == 401


@pytest.mark.parametrize("url", OWNED)
def test_customer_a_on_b_objects_is_404(client, world, url):
    client.force_login(world["a"]["customer"].user)
    assert client.get(fmt(url, world["b"])).status_code == 404
    assert client.get(fmt(url, world["a"])).status_code in (200, 302, 503)


@pytest.mark.parametrize("url", PAGE_POSTS)
def test_customer_a_cannot_change_b_methods(client, world, url):
    client.force_login(world["a"]["customer"].user)
    other = world["b"]["method"]
    assert client.post(fmt(url, world["b"])).status_code == 404
    other.refresh_from_db()
    assert other.is_primary is True and other.deleted_at is None


def test_customer_a_api_writes_on_b_method_are_404(client, world):
    client.force_login(world["a"]["customer"].user)
    other = world["b"]["method"]
    url = f"/api/dashboard/payment-methods/{other.pk}"
    assert client.patch(url, {"is_primary": True}, content_type="application/json").status_code == 404
    assert client.delete(url).status_code == 404
    other.refresh_from_db()
    assert other.deleted_at is None


@pytest.mark.parametrize("url", STAFF_GETS)
def test_staff_gets_are_403_for_customers(client, world, url):
    client.force_login(world["a"]["customer"].user)
    response = client.get(fmt(url, world["a"]))
    assert response.status_code == 403
    assert "message" in response.json()


@pytest.mark.parametrize("url", STAFF_POSTS)
def test_staff_lifecycle_is_403_for_customers_and_changes_nothing(client, world, url):
    client.force_login(world["a"]["customer"].user)
    response = client.post(fmt(url, world["a"]), {"reason": "because", "kind": "technical"})
    assert response.status_code == 403
    world["a"]["service"].refresh_from_db()
    assert world["a"]["service"].status == "active"
    assert world["a"]["service"].action_logs.count() == 0


@pytest.mark.parametrize("url", STAFF_GETS)
def test_staff_gets_work_for_staff(client, world, url):
    client.force_login(world["staff"])
    assert client.get(fmt(url, world["a"])).status_code == 200


def test_staff_unknown_customer_service_pair_is_404(client, world):
    client.force_login(world["staff"])
    url = f"/api/admin/customers/{world['a']['customer'].pk}/services/{world['b']['service'].pk}/audit"
    assert client.get(url).status_code == 404


def test_token_auth_works_for_summary(client, world):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=world["a"]["customer"].user)
    response = client.get("/api/dashboard/summary", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200
    assert response.json()["account_number"] == world["a"]["customer"].account_number


def test_user_without_customer_gets_404_page_and_403_api(client, world):
    client.force_login(world["staff"])
    assert client.get("/dashboard/").status_code == 404
    assert client.get("/api/dashboard/summary").status_code == 403
