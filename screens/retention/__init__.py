"""Retention: the preview and purge view, and the deletion record (削除記録)."""
