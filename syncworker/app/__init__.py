"""The application layer: a container that builds objects (``container.py``) and the
use cases (``sync.py``, ``writeback.py``) that the CLI and the Celery tasks call."""
