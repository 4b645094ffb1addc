"""Computer use: the ``computer`` / ``computer_use_preview`` tools and their screens.

``ComputerTool`` executes ``computer_call`` items on a ``Computer`` (a Protocol: implement it for
another backend). ``DesktopComputer`` is the default: the virtual display of a sandbox started
from the sandloop/computer image, driven through the sandbox's runner.
"""

from sandloop.executors.computer._desktop import DEFAULT_DISPLAY_SIZE, DesktopComputer
from sandloop.executors.computer._keys import keysym
from sandloop.executors.computer._protocol import Computer
from sandloop.executors.computer._tool import ComputerTool, perform, screenshot_data_url

__all__ = (
    "DEFAULT_DISPLAY_SIZE",
    "Computer",
    "ComputerTool",
    "DesktopComputer",
    "keysym",
    "perform",
    "screenshot_data_url",
)
