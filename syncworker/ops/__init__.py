"""Operations: Prometheus metrics, health probes, the ops page and the ops HTTP app.

Nothing here carries personal data: metric labels are stream names, operation
kinds, HTTP status codes and fixed outcome words; the page masks every stored
error with :func:`syncworker.redaction.redact`, as the CLI does.
"""
