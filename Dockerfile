# One image for every Chorus role (orchestrator, worker, api, flower, simulator); the compose
# command picks the role.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY shared ./shared
COPY orchestrator_service ./orchestrator_service
COPY worker_service ./worker_service
# Installed as the one package `chorus` (distribution chorus-jobs); the source folders go, so
# nothing named `shared` is importable in the image.
RUN pip install -c constraints.txt . \
    && rm -rf shared orchestrator_service worker_service build \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin chorus
USER 10001
WORKDIR /home/chorus
CMD ["chorus", "--help"]
