"""Reading results: runs into tables (runs.py), figures, the report, and a look inside one run."""
