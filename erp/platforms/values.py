"""Reading and checking prices: platforms send numbers or strings, sellers type anything."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from erp.platforms.base import BadResponse, PlatformError


def decimal_text(value: object) -> str:
    """A price as plain decimal text (\"12.5\" stays \"12.5\"); empty stays empty."""
    if value is None or value == "":
        return ""
    try:
        return str(Decimal(str(value)))
    except InvalidOperation:
        raise BadResponse("The platform sent a price we cannot read.") from None


def positive_decimal(amount: str) -> Decimal:
    """A price a seller typed, checked: a finite, positive decimal."""
    try:
        value = Decimal(str(amount).strip())
    except InvalidOperation:
        raise PlatformError(f"'{amount}' is not a price.") from None
    if not value.is_finite() or value <= 0:
        raise PlatformError(f"'{amount}' is not a valid price: it must be a positive amount.")
    return value
