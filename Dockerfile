# One image for the ETL and training workers (and the one-shot `deploy` service).
# CPU by default; the GPU worker builds it with a CUDA torch (see docker-compose.yml).
FROM python:3.11.7-slim-bookworm

# requirements.lock pins torch's release; this index gives its build (the GPU worker: cu128).
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV DO_NOT_TRACK=1 \
    PREFECT_SERVER_ANALYTICS_ENABLED=false \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app
# Every dependency at the version CI tested (the lock also pins Prefect to the server's 3.9.1).
COPY requirements.lock ./
RUN pip install -r requirements.lock --extra-index-url ${TORCH_INDEX}
COPY pyproject.toml README.md LICENSE prefect.yaml ./
COPY landslide4sense landslide4sense
COPY regions regions
COPY acquisition acquisition
COPY annotation annotation
COPY patching patching
COPY training training
COPY flows flows
RUN pip install --no-deps .

# Data (raw layers, benchmarks, training runs) lives on the /data volume.
VOLUME ["/data"]
CMD ["prefect", "worker", "start", "--pool", "etl", "--type", "process"]
