"""Deployment artifacts (CloudFormation template, scaling simulator) and their helpers."""
