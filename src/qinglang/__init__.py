"""Qinglang (清朗): report, debunk, match, triage, route, act, appeal."""
__version__ = "0.1.0"
