"""Widgets, grouped by the area of the screen they draw.

- ``sidebar``: the conversation list and the search box
- ``transcript`` / ``message``: the chat transcript and one message in it
- ``memories``: the "memories used" line under a reply
- ``prompt``: the multi-line prompt with history recall
- ``status``: the status bar
- ``safe_text``: stored text made safe to draw (control characters shown as ␛ etc., never
  parsed as markup) -- every widget that shows a message or a memory goes through it

Widgets never call the store or the assistant: data comes down as attributes or method
calls from the screen, requests go up as messages.
"""
