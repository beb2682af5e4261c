"""The pure audio core: files and numpy arrays in, results out. No AWS, no Celery."""
