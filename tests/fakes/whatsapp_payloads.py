"""WhatsApp payload builders ship with the sandbox (:mod:`traza.sandbox.fakes.whatsapp_payloads`)."""

from traza.sandbox.fakes.whatsapp_payloads import *  # noqa: F403
from traza.sandbox.fakes.whatsapp_payloads import __all__ as __all__
