"""RRP/1 on the wire: the Wireshark/tshark Lua dissector, generated from rrp_spec (``make wireshark``)."""

from .dissector import PROTOCOL, dissector_fields, render_dissector
from .experts import BY_KEY, EXPERT_RULES, ExpertRule

__all__ = ["BY_KEY", "EXPERT_RULES", "PROTOCOL", "ExpertRule", "dissector_fields", "render_dissector"]
