# Lead Engine: API (:8000), operator UI (:8501), job worker and IMAP poller under supervisord.
# Logs: `docker logs -f <container>`; the generated token and password: `docker exec <container> cat /app/data/.env`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LEAD_ENGINE_HOST=0.0.0.0 \
    LEAD_ENGINE_DATABASE_URL=sqlite:////app/data/leads.db

WORKDIR /app

# Dependencies first: this layer is rebuilt only when requirements.txt changes.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY supervisord.conf alembic.ini ./
COPY lead_engine ./lead_engine

# The generated token and password live in the data volume beside the database.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin lead \
    && mkdir -p /app/data \
    && chown lead:lead /app/data \
    && ln -s /app/data/.env /app/.env
USER lead
VOLUME ["/app/data"]
EXPOSE 8000 8501

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/health', timeout=4)"

# `serve` writes data/.env with a generated API token and UI password unless they are set, then runs supervisord
# with its output through a pipe of its own (a non-root supervisord cannot reopen a root-owned stdout) and passes
# `docker stop`'s SIGTERM on to it.
CMD ["python", "-m", "lead_engine", "serve", "--config", "/app/supervisord.conf"]
