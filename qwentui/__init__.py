"""qwentui: a terminal job manager for QwenCloud / DashScope image and video generation."""
