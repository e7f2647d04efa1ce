"""Reports, dedup into cases, routing, the decision workflow, SLA escalation, appeals and statements of reasons."""
