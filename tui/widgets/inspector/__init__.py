"""Widgets of the memory inspector (F2): the memory table, its detail pane and search bar.

They only draw what they are given; the tabs in ``tui/screens/inspector_*.py`` read the store
in thread workers and hand the results down.
"""
