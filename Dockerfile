# The production image fly.toml builds (docs/deploy.md): gunicorn serving the app on :8080,
# PostgreSQL from DATABASE_URL. Local use needs none of this: `make run`.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FLASK_APP=webapp \
    HOOKLINE_PRODUCTION=true

WORKDIR /app
# The dependencies from pyproject.toml first, so a code change does not reinstall them. The
# project itself is not installed: it runs from /app, where create_app() finds static/ and
# templates/ beside webapp/ (gunicorn and flask put the working directory on sys.path).
COPY pyproject.toml README.md ./
RUN mkdir webapp && touch webapp/__init__.py && pip install . && pip uninstall -y hookline \
    && rm -rf webapp build *.egg-info
COPY webapp ./webapp
COPY static ./static
COPY templates ./templates
COPY migrations ./migrations
COPY gunicorn.conf.py ./
RUN useradd --create-home --uid 10001 hookline && mkdir -p /app/instance \
    && chown hookline /app/instance
USER hookline

EXPOSE 8080
# Two sync workers per two cores, as measured in docs/performance.md.
CMD ["gunicorn", "--workers", "2", "--bind", "0.0.0.0:8080", "--access-logfile", "-", "webapp:create_app()"]
