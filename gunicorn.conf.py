# Read by gunicorn from the working directory (Procfile `web`): redact secret URL segments in the access log.
logger_class = "circletel.gunicorn.RedactingLogger"
