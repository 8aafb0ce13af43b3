"""Imported by the fork server only (last, processes.EXIT_PRELOAD), never by the main process
or a child: the fork server's exit skips Python's shutdown.

The fork server exits when the main process of the run is gone, and its children (workers, agents)
are armed to die with it (PR_SET_PDEATHSIG). With torch loaded, a normal interpreter shutdown takes
a second or two on a busy machine, all of it spent tearing down objects of a process whose run is
over. atexit runs its handlers last-registered first, so this one runs before torch's and ends the
process at once. Forked children never run the fork server's atexit handlers: they leave through
os._exit.
"""

import atexit
import os

atexit.register(os._exit, 0)
