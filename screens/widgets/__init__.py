"""Widgets every area uses: the frame, the table, fields, modals, progress, text."""
