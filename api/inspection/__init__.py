"""Inspection: signed case files, redacted history, timelines, and their offline check."""
