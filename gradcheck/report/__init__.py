"""Reports: the data a check produces, and its text, Markdown, JSON and HTML forms.

``records`` holds the per-group results that verify fills in and ``model`` the
reports that collect them (with their JSON form); ``text``, ``html`` and
``plots`` render that data and ``files`` saves it atomically.  Nothing here
imports verify, numerical or interfaces.
"""
