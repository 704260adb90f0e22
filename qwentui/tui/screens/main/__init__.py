"""The main screen, one Screen split across files: the table, preview and refresh loop (screen.py), with the
actions on the selected job (job_actions.py) and on finished results (result_actions.py) as mixins."""

from qwentui.tui.screens.main.screen import MainScreen

__all__ = ["MainScreen"]
