# Tandem's runtime image: the sidecar with every backend driver, as a non-root user.
#   docker build -t tandem .
#   docker run --rm -p 3500:3500 tandem run --app-id myapp --dapr-listen-addresses 0.0.0.0
# The image also runs Python apps: it has aiohttp and the Tandem SDK (``tandem``, from sdk/; the
# runtime never imports it), and docker-compose.yml uses it for the example apps too.

FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY runtime ./runtime
COPY components ./components
COPY protos ./protos
COPY sdk ./sdk
RUN python -m venv /opt/tandem \
    && /opt/tandem/bin/pip install --no-cache-dir --disable-pip-version-check ".[all]" ./sdk

FROM python:3.12-slim
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/tandem --create-home tandem
COPY --from=build /opt/tandem /opt/tandem
ENV PATH=/opt/tandem/bin:$PATH \
    TANDEM_HOME=/var/lib/tandem \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
WORKDIR /var/lib/tandem
# HTTP API, gRPC API, sidecar-to-sidecar (when --dapr-internal-grpc-port 50002), metrics
EXPOSE 3500 50001 50002 9090
# Healthy once the sidecar can make outbound calls (components up); no curl in a slim image.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; r.urlopen('http://127.0.0.1:' + os.environ.get('DAPR_HTTP_PORT', '3500') + '/v1.0/healthz/outbound', timeout=2)"]
ENTRYPOINT ["tandem"]
CMD ["run", "--dapr-listen-addresses", "0.0.0.0"]
