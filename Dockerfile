# The image holds the installed wheel only: non-editable, no sandboxes, no tests,
# no checkout. The migrations and the Celery defaults are inside the package; to
# override Celery settings, put a celeryconfig.py on PYTHONPATH that does
# `from syncworker.celery_defaults import *` and changes what it needs.
# The dependencies are the ones of requirements.lock, checked against its hashes
# (`make lock` updates it); the base image is pinned to a patch release.
FROM python:3.11.14-slim AS build
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY syncworker ./syncworker
COPY migrations ./migrations
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11.14-slim
COPY requirements.lock /tmp/requirements.lock
RUN pip install --no-cache-dir --require-hashes -r /tmp/requirements.lock \
    && rm /tmp/requirements.lock
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-deps /wheels/*.whl && pip check && rm -rf /wheels
RUN useradd --create-home syncworker
USER syncworker
WORKDIR /home/syncworker
CMD ["celery", "-A", "syncworker.celery_app", "worker", "--concurrency", "2"]
