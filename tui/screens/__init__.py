"""Screens: the chat screen (with its turn and memory handling), dialogs, help, model picker,
first-run notice and the memory inspector."""
