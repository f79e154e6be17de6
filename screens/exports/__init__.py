"""Output data: the export actions and dialogs, and the register view (出力データ管理簿)."""
