"""An offline stand-in for the parts of Stripe the membership app uses (API, Checkout, Portal, webhooks).

It imports nothing from `membership`; from the `stripe` SDK it takes only the API version its typed classes
describe (`API_VERSION`, the one the membership gateway pins too). Run it with `python -m stripe_double`, or
in-process with `DoubleServer(DoubleConfig(...)).start()`.
"""

from .app import DoubleServer, create_app
from .checkout import PayResult
from .config import API_VERSION, DoubleConfig, FeeRule
from .webhooks import sign

__all__ = ["API_VERSION", "DoubleConfig", "DoubleServer", "FeeRule", "PayResult", "create_app", "sign"]
