"""Metrics exporters for hosts without CloudWatch (`bbbscale run`)."""
