"""Hypothesis profiles shared by the spec tests."""

from hypothesis import HealthCheck, settings

settings.register_profile("rrp", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("rrp")
