"""The headless core: no Textual import anywhere below here."""
