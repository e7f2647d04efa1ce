"""Transparency statistics and exports computed from the store. Never include personal data in a statistic."""
