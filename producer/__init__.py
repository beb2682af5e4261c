"""Producers of jobs: the CreateSampleRecord Lambda handler and the ``audio-tasks`` CLI."""
