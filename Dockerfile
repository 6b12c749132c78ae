# The chat service: one daphne process per container; scale with replicas
# (docker-compose.yml, docs/operations.md).
#
#   docker build -t pelvic-coach-chat .
#   docker run --env-file .env -p 8000:8000 pelvic-coach-chat
#
# Stage 1 installs the project into a virtualenv; stage 2 copies only that
# virtualenv, so no source tree, pip cache or build tool is left in the image.
# Every dependency ships wheels for this platform, so no compiler is needed.

FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src

# Dependencies first, in their own layer: it is rebuilt only when pyproject.toml
# changes, not on every code change.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt

# Then the project itself (.dockerignore keeps tests, data and secrets out); its
# templates and static files are package data (pyproject.toml).
COPY . .
RUN pip install --no-deps . \
 && pip uninstall -y pip setuptools


FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=config.settings

RUN groupadd --system --gid 10001 chat \
 && useradd --system --uid 10001 --gid chat --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin chat

COPY --from=build /opt/venv /opt/venv

# The code is imported from the virtualenv; /app holds only the entry points.
# Both stay root-owned: the service needs to write nothing but its metrics
# directory (PROMETHEUS_MULTIPROC_DIR, a tmpfs in docker-compose.yml).
WORKDIR /app
COPY manage.py deploy/healthcheck.py ./

USER chat
EXPOSE 8000

HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "/app/healthcheck.py"]

# --proxy-headers: the client address and scheme come from X-Forwarded-For and
# X-Forwarded-Proto, which nginx sets; publish this port only to the proxy.
CMD ["python", "-m", "config.serve", "-b", "0.0.0.0", "-p", "8000", "--proxy-headers", "config.asgi:application"]
