"""Imports of other departments' lists: reading CSV and XLSX files, and running a job."""
