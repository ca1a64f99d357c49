FROM python:3.11-slim
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY ingest ./ingest
COPY proto ./proto
COPY simulator ./simulator
RUN pip install --no-cache-dir .
ENTRYPOINT []
