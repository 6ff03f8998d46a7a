"""Running in production: request ids and JSON logs, Prometheus metrics, health probes.

Nothing here changes what the product does; it only tells operators what it is doing.
``logging`` and ``metrics`` import no Django models, so the gunicorn master (and the
settings modules) can load them before Django is set up.
"""
