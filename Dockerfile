# The production image. The same image runs the web server (the default command), the
# Celery worker and the beat scheduler: see compose.yaml and docs/DEPLOY.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=settings.prod \
    CONNECTIONS_VAR_DIR=/app/var \
    PORT=8000

WORKDIR /app
# Wheels exist for every pinned requirement on this base (psycopg[binary] included), so
# no compiler is installed.
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .
# Static files are collected into the image, where WhiteNoise serves them. The settings
# need values to load; these are throwaway, used by this step only (it opens no database
# and decrypts nothing).
RUN DJANGO_SECRET_KEY=build-only DJANGO_ALLOWED_HOSTS=build.invalid CONNECTIONS_ENCRYPTION_KEYS=build-only \
    REDIS_URL=redis://build.invalid:6379/0 DATABASE_URL=sqlite:////tmp/build.sqlite3 \
    python manage.py collectstatic --noinput -v0 \
 && useradd --system --uid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin connections

# Nothing in /app is writable by the process that serves requests.
USER connections
EXPOSE 8000
CMD ["gunicorn", "-c", "settings/gunicorn.conf.py", "settings.wsgi"]
