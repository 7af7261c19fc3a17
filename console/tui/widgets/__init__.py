"""Widgets of the Patchwatch console: the command line, the dashboard's live tables, the task form's parts."""
