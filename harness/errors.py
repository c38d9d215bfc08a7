"""The one base class of every error a user can cause: the command line catches it once and prints its
message, never a traceback. Each module's error subclasses it and names the file, row, key or flag, what was
expected and what to do.

    class CatalogueError(HarnessError, ValueError): ...
"""


class HarnessError(Exception):
    """Bad input or state the user can fix; the message says where and how."""
