"""An offline stand-in for the parts of Stripe the membership app uses (API, Checkout, Portal, webhooks).

It imports nothing from `membership` and not the `stripe` SDK. Run it with `python -m stripe_double`, or
in-process with `DoubleServer(DoubleConfig(...)).start()`.
"""

from .app import DoubleServer, create_app
from .checkout import PayResult
from .config import API_VERSION, DoubleConfig, FeeRule
from .webhooks import sign

__all__ = ["API_VERSION", "DoubleConfig", "DoubleServer", "FeeRule", "PayResult", "create_app", "sign"]
