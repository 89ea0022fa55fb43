# newsbot in a container:
#   docker build -t newsbot .
#   docker run -d --name newsbot -v newsbot-data:/data --env-file newsbot.env newsbot
# Settings come from the environment (NEWSBOT_<SECTION>__<KEY>, see README "Configuration").

# --- builder: the package and its locked dependencies in a venv, the catalogs compiled -------
FROM python:3.11-slim AS builder
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/newsbot
WORKDIR /app
COPY pyproject.toml requirements.lock README.md ./
COPY bot bot
COPY handlers handlers
COPY jobs jobs
COPY data data
# bot/paths.py finds data/ beside the code, so the source stays at /app and is installed in place;
# the lock pins every dependency to what the tests ran with.
RUN /opt/newsbot/bin/pip install --no-cache-dir -c requirements.lock -e . \
    && /opt/newsbot/bin/python -m compileall -q bot handlers jobs
# .po -> .mo; a tree without catalogs yet has nothing to compile. Babel stays in this stage.
RUN if [ -n "$(find data/locales -name '*.po' 2>/dev/null)" ]; then \
        python -m venv /opt/babel \
        && /opt/babel/bin/pip install --no-cache-dir -c requirements.lock babel \
        && /opt/babel/bin/pybabel compile -d data/locales -D newsbot; \
    fi

# --- runtime: slim Python, the venv and the source, a user of its own ------------------------
FROM python:3.11-slim
ENV PATH=/opt/newsbot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PTB_TIMEDELTA=1 \
    NEWSBOT_DB=/data/newsbot.db \
    NEWSBOT_BOT__METRICS=0.0.0.0:9100
RUN groupadd --system --gid 10001 newsbot \
    && useradd --system --uid 10001 --gid newsbot --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin newsbot \
    && mkdir /data \
    && chown newsbot:newsbot /data
COPY --from=builder /opt/newsbot /opt/newsbot
COPY --from=builder /app /app
COPY docker/entrypoint.sh /usr/local/bin/newsbot-entrypoint
WORKDIR /app
USER 10001:10001
VOLUME ["/data"]
EXPOSE 9100
# /healthz on the metrics address; urllib raises on anything but 2xx, so the exit status says it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ.get('NEWSBOT_BOT__METRICS', ':9100').rpartition(':')[2]; urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/newsbot-entrypoint"]
