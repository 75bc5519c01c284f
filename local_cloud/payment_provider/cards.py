"""Stripe's test payment methods (docs.stripe.com/testing) and what charging them does."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Decline:
    code: str  # error.code
    decline_code: str  # error.decline_code
    message: str  # what Stripe says to the customer
    param: str | None = None


@dataclass(frozen=True)
class SimulatedCard:
    brand: str
    last4: str
    funding: str = "credit"
    decline: Decline | None = None  # None: the charge succeeds


_DECLINED = "Your card was declined."

TEST_PAYMENT_METHODS: dict[str, SimulatedCard] = {
    "pm_card_visa": SimulatedCard("visa", "4242"),
    "pm_card_visa_debit": SimulatedCard("visa", "5556", funding="debit"),
    "pm_card_mastercard": SimulatedCard("mastercard", "4444"),
    "pm_card_mastercard_debit": SimulatedCard("mastercard", "8210", funding="debit"),
    "pm_card_amex": SimulatedCard("amex", "8431"),
    "pm_card_discover": SimulatedCard("discover", "1117"),
    "pm_card_diners": SimulatedCard("diners", "0004"),
    "pm_card_jcb": SimulatedCard("jcb", "0505"),
    "pm_card_unionpay": SimulatedCard("unionpay", "0005"),
    "pm_card_chargeDeclined": SimulatedCard(
        "visa", "0002", decline=Decline("card_declined", "generic_decline", _DECLINED)
    ),
    "pm_card_chargeDeclinedInsufficientFunds": SimulatedCard(
        "visa",
        "9995",
        decline=Decline("card_declined", "insufficient_funds", "Your card has insufficient funds."),
    ),
    "pm_card_chargeDeclinedLostCard": SimulatedCard(
        "visa", "9987", decline=Decline("card_declined", "lost_card", _DECLINED)
    ),
    "pm_card_chargeDeclinedStolenCard": SimulatedCard(
        "visa", "9979", decline=Decline("card_declined", "stolen_card", _DECLINED)
    ),
    "pm_card_chargeDeclinedFraudulent": SimulatedCard(
        "visa", "0019", decline=Decline("card_declined", "fraudulent", _DECLINED)
    ),
    "pm_card_chargeDeclinedExpiredCard": SimulatedCard(
        "visa",
        "0069",
        decline=Decline("expired_card", "expired_card", "Your card has expired.", "exp_month"),
    ),
    "pm_card_chargeDeclinedIncorrectCvc": SimulatedCard(
        "visa",
        "0127",
        decline=Decline(
            "incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect.", "cvc"
        ),
    ),
    "pm_card_chargeDeclinedProcessingError": SimulatedCard(
        "visa",
        "0119",
        decline=Decline(
            "processing_error",
            "processing_error",
            "An error occurred while processing your card. Try again in a little bit.",
        ),
    ),
}
