"""The node's HTTP JSON API (v2alpha1-shaped), event stream, Prometheus metrics, logs and dashboard."""
