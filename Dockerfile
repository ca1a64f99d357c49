FROM python:3.11-slim
WORKDIR /src
COPY pyproject.toml README.md ./
COPY core ./core
COPY app ./app
COPY ingest ./ingest
COPY proto ./proto
RUN pip install --no-cache-dir .
ENTRYPOINT []
