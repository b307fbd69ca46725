# syntax=docker/dockerfile:1
#
# creditgw: the gateway image. Build from the repository root:
#   docker build -t creditgw:local .
# The one image runs the gateway (default command), one-shot commands (`migrate`, `dlq list`,
# `check-config`, …: `docker run --rm creditgw:local migrate`) and the simulated external systems
# (`docker run --rm --entrypoint python creditgw:local -m simulators --host 0.0.0.0 --base-port 8601`).
# Configuration is environment only (CREDITGW_*, nested with __); see deploy/compose.yaml.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: install the project and its runtime dependencies into a virtualenv ----------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
COPY pyproject.toml ./
COPY gateway ./gateway
COPY adapters ./adapters
COPY mappings ./mappings
COPY simulators ./simulators
# A regular (non-editable) install without the dev extras: /src is not needed at run time.
RUN pip install . \
 && python -c "import gateway, adapters, mappings, simulators"

# --- runtime ----------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="creditgw" \
      org.opencontainers.image.description="Credit-repair sync gateway"

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CREDITGW_LOG_FORMAT=json

RUN groupadd --system --gid 10001 creditgw \
 && useradd --system --uid 10001 --gid creditgw --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin creditgw \
 && mkdir -p /app/var \
 && chown creditgw:creditgw /app/var

COPY --from=build /opt/venv /opt/venv

# The default CREDITGW_DATABASE_URL (sqlite:///var/creditgw.db) resolves to /app/var/creditgw.db:
# mount a volume there for a single-node SQLite install. Replicas use PostgreSQL instead.
WORKDIR /app
USER creditgw:creditgw

EXPOSE 8600

# Liveness only (the process serves HTTP); /readyz also checks the database. No curl in slim images.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8600/livez', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["creditgw"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8600"]
