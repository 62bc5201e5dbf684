"""Kubernetes manifests from the same definitions as the compose file (`invoke release.k8s`)."""
