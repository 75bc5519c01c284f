"""Currencies the simulator accepts, and Stripe's minimum charge amounts.

A copy of the ISO 4217 list in delivery_guarantees.currencies: the local cloud is a
separate tool and does not import the deployed layer.
"""

from __future__ import annotations

ISO_4217_CODES = frozenset(
    """
    aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bhd bif bmd bnd bob bov brl bsd
    btn bwp byn bzd cad cdf che chf chw clf clp cny cop cou crc cuc cup cve czk djf dkk dop
    dzd egp ern etb eur fjd fkp gbp gel ghs gip gmd gnf gtq gyd hkd hnl htg huf idr ils inr
    iqd irr isk jmd jod jpy kes kgs khr kmf kpw krw kwd kyd kzt lak lbp lkr lrd lsl lyd mad
    mdl mga mkd mmk mnt mop mru mur mvr mwk mxn mxv myr mzn nad ngn nio nok npr nzd omr pab
    pen pgk php pkr pln pyg qar ron rsd rub rwf sar sbd scr sdg sek sgd shp sle sll sos srd
    ssp stn svc syp szl thb tjs tmt tnd top try ttd twd tzs uah ugx usd usn uyi uyu uyw uzs
    ved ves vnd vuv wst xaf xcd xcg xof xpf yer zar zmw zwg zwl
    """.split()
)

# Amounts are in the currency's smallest unit; these have no minor unit.
ZERO_DECIMAL_CURRENCIES = frozenset(
    "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split()
)

# Stripe's documented minimum charge amounts (minor units); other currencies: 1.
MINIMUM_CHARGE_AMOUNTS = {
    "usd": 50, "aed": 200, "aud": 50, "bgn": 100, "brl": 50, "cad": 50, "chf": 50,
    "czk": 1500, "dkk": 250, "eur": 50, "gbp": 30, "hkd": 400, "huf": 17500, "inr": 50,
    "jpy": 50, "mxn": 1000, "myr": 200, "nok": 300, "nzd": 50, "pln": 200, "ron": 200,
    "sek": 300, "sgd": 50, "thb": 1000,
}  # fmt: skip

# Stripe's ceiling for an amount: eight digits.
MAXIMUM_AMOUNT = 99_999_999


def format_amount(amount: int, currency: str) -> str:
    """1999 usd -> "19.99 usd"; 50 jpy -> "50 jpy" (for error messages)."""
    if currency in ZERO_DECIMAL_CURRENCIES:
        return f"{amount:,} {currency}"
    return f"{amount // 100:,}.{amount % 100:02d} {currency}"
