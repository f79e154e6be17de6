"""Reports: the status view, and the report and public notice."""
