# One image for every Chorus role (orchestrator, worker, simulator); the command picks the role.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY shared ./shared
COPY orchestrator_service ./orchestrator_service
COPY worker_service ./worker_service
RUN pip install -c constraints.txt . && useradd --create-home --uid 10001 chorus
USER chorus
CMD ["chorus", "--help"]
