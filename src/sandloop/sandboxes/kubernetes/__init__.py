"""Kubernetes sandboxes (placeholder)."""
