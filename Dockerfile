# Tandem sidecar image: the runtime with every backend driver.
FROM python:3.11-slim
WORKDIR /opt/tandem
COPY pyproject.toml README.md ./
COPY runtime ./runtime
COPY components ./components
COPY protos ./protos
RUN pip install --no-cache-dir ".[all]"
ENV TANDEM_HOME=/var/lib/tandem
EXPOSE 3500 50001 9090
ENTRYPOINT ["tandem"]
CMD ["run", "--app-id", "app", "--dapr-listen-addresses", "0.0.0.0"]
