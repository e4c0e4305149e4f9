from decimal import Decimal

import pytest

from billing.vat import vat_breakdown

D = Decimal


def test_inclusive_package_invoices_exactly_its_price():
    b = vat_breakdown(D("899.00"), prices_include_vat=True)
    assert (b.subtotal, b.vat, b.total) == (D("781.74"), D("117.26"), D("899.00"))


def test_exclusive_half_cent_rounds_up():
    b = vat_breakdown(D("1091.50"), prices_include_vat=False)  # 163.725 -> 163.73
    assert (b.subtotal, b.vat, b.total) == (D("1091.50"), D("163.73"), D("1255.23"))


def test_exclusive_just_below_half_cent_rounds_down():
    b = vat_breakdown(D("1091.43"), prices_include_vat=False)  # 163.7145 -> 163.71
    assert b.vat == D("163.71")


def test_inclusive_half_cent_rounds_up():
    # 23.00 * 15/115 = 3.0 exactly; 0.23 * 15/115 = 0.03; 1.15*15/115 = 0.15
    assert vat_breakdown(D("1.15"), prices_include_vat=True).vat == D("0.15")
    # 0.23 * 3/23 = 0.03 exactly; 0.115 would be half a cent: 7.59*15/115 = 0.99
    b = vat_breakdown(D("0.69"), prices_include_vat=True)  # 0.09 exactly
    assert (b.subtotal, b.vat) == (D("0.60"), D("0.09"))
    b = vat_breakdown(D("3.45"), prices_include_vat=True)  # 0.45
    assert b.vat == D("0.45")
    b = vat_breakdown(D("0.38"), prices_include_vat=True)  # 0.04956.. -> 0.05
    assert b.vat == D("0.05")


@pytest.mark.parametrize("amount", [D("0.00"), D("0.01"), D("499.00"), D("12345.67")])
@pytest.mark.parametrize("inclusive", [True, False])
def test_total_is_always_subtotal_plus_vat(amount, inclusive):
    b = vat_breakdown(amount, prices_include_vat=inclusive)
    assert b.total == b.subtotal + b.vat


def test_rejects_floats_and_fractions_of_cents():
    with pytest.raises(TypeError):
        vat_breakdown(899.0, prices_include_vat=True)  # not money: deliberately wrong type
    with pytest.raises(ValueError):
        vat_breakdown(D("1.001"), prices_include_vat=True)
