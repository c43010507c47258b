"""Loopback fakes of provider APIs (OpenStack, CloudStack, Outscale, Scaleway) for the adapter tests."""
