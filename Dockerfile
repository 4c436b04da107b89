# UniShare HTTP service: `docker build -t unishare . && docker run -p 8000:8000 unishare`
# The same image runs the solvers of a cluster: `docker run unishare unishare worker` with
# UNISHARE_REDIS_URL and UNISHARE_DATABASE_URL set (docs/deploy.md, deploy/compose.yaml).
# `make image-check` runs this file's COPY and pip install steps in a fresh venv, then starts
# `unishare serve` and `unishare worker` from it, where no Docker daemon is available.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Only what the service needs; solver binaries (HiGHS, CBC, CP-SAT) come with the wheels.
COPY pyproject.toml README.md ./
COPY optimizer ./optimizer
COPY api ./api
COPY instances ./instances
RUN pip install . "psycopg[binary]>=3.1"

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin unishare \
    && mkdir -p /app/var \
    && chown unishare:unishare /app/var
USER 10001

# Jobs survive container restarts when /app/var is a volume; or point at PostgreSQL with
# UNISHARE_DATABASE_URL=postgresql+psycopg://user:password@host:5432/db
ENV UNISHARE_DATABASE_URL=sqlite:////app/var/unishare.db
VOLUME ["/app/var"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=4)"]

CMD ["unishare", "serve", "--host", "0.0.0.0", "--port", "8000"]
