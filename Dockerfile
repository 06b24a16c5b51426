FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md celeryconfig.py alembic.ini ./
COPY syncworker ./syncworker
COPY migrations ./migrations
RUN pip install --no-cache-dir -e .
RUN useradd --create-home syncworker
USER syncworker
CMD ["celery", "-A", "syncworker.celery_app", "worker", "--concurrency", "2"]
