"""The instructions view (様式第1号)."""
