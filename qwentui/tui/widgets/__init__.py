"""One widget per module, each a single idea (table, preview, status bar, filters, composer fields)."""
