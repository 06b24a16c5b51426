# The image holds the installed wheel only: non-editable, no sandboxes, no tests,
# no checkout. The migrations and the Celery defaults are inside the package; to
# override Celery settings, put a celeryconfig.py on PYTHONPATH that does
# `from syncworker.celery_defaults import *` and changes what it needs.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY syncworker ./syncworker
COPY migrations ./migrations
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
RUN useradd --create-home syncworker
USER syncworker
WORKDIR /home/syncworker
CMD ["celery", "-A", "syncworker.celery_app", "worker", "--concurrency", "2"]
