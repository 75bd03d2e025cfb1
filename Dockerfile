# Lead Engine: API (:8000), operator UI (:8501), job worker and IMAP poller under supervisord.
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

# init-env writes data/.env with a generated API token and UI password unless they are set;
# exec makes supervisord PID 1, so `docker stop` reaches every program.
CMD ["sh", "-c", "python -m lead_engine init-env && exec supervisord -c /app/supervisord.conf"]
