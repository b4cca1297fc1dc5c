"""One exception type for problems a user can fix, so the CLI and app show a sentence, not a traceback."""


class WorkbenchError(Exception):
    """A problem with the user's input or environment, with a message that says what to do.

    The CLI prints ``error: <message>`` and exits 2; the app shows the message in the page.
    """
