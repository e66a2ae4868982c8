"""File handling of a run's output folder: media files, record files, resume, clip ids."""
