"""The UCI Online Retail data set: the facts that the replay and the recommender share.

The replay (``ingest.online_retail``) turns the file into events; the recommender
(``ml.recommender.online_retail``) reads the same file straight into interactions. Both key
the retailer, the invoice times and the non-product lines the same way, from here.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

#: The one merchant of the data set: the retailer itself.
MERCHANT_ID = "online-retail-uk"
#: Invoice times in the file are London wall-clock times.
LONDON = ZoneInfo("Europe/London")
# Stock codes that are not products: postage, fees, manual lines, discounts, samples,
# charity and gift vouchers. They are real money but not product sales.
SERVICE_CODES = frozenset(
    {"POST", "DOT", "M", "m", "C2", "D", "S", "BANK CHARGES", "AMAZONFEE", "CRUK", "PADS", "B"}
)
SERVICE_PREFIXES = ("gift_0001_",)
