# linli for production: one image for the webhook workers, the scheduler and the migrations.
#   docker build -t linli .          (see compose.yaml and README "Running it in production")
# The dependencies come from uv.lock (exactly those versions); the package brings its data:
# locales, the CJK font of the praise pictures (assets/fonts), the catalogue, the migrations.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/linli UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
RUN pip install uv==0.13.8
WORKDIR /src
COPY pyproject.toml uv.lock README.md ./
# the dependencies first (a layer of their own, kept while only the code changes)
RUN uv sync --frozen --no-dev --no-install-project
COPY . .
RUN uv sync --frozen --no-dev --no-editable

FROM python:3.11-slim
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/linli --create-home linli
COPY --from=build /opt/linli /opt/linli
ENV PATH=/opt/linli/bin:$PATH PYTHONUNBUFFERED=1 \
    DATABASE_URL=sqlite:////var/lib/linli/linli.db \
    WEBHOOK_HOST=0.0.0.0 WEBHOOK_PORT=8080
USER linli
WORKDIR /var/lib/linli
VOLUME ["/var/lib/linli"]
EXPOSE 8080
# a webhook worker's health (compose.yaml sets one per service)
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["linli"]
CMD ["webhook"]
