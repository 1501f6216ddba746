"""RRP/1 on the wire: the Wireshark/tshark Lua dissector, generated from rrp_spec (``make wireshark``)."""

from .dissector import PROTOCOL, SECURE_PROTOCOL, dissector_fields, render_dissector, secure_fields
from .experts import BY_KEY, EXPERT_RULES, SECURE_EXPERT_RULES, ExpertRule

__all__ = [
    "BY_KEY",
    "EXPERT_RULES",
    "PROTOCOL",
    "SECURE_EXPERT_RULES",
    "SECURE_PROTOCOL",
    "ExpertRule",
    "dissector_fields",
    "render_dissector",
    "secure_fields",
]
