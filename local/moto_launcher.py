"""Runs moto's server and exits when the process that started it is gone, so no emulator outlives its test run."""
import os
import sys
import threading
import time

from moto.server import main


def exit_when_orphaned(parent_pid: int) -> None:
    while True:
        if os.getppid() != parent_pid:
            os._exit(0)
        time.sleep(1)


if __name__ == "__main__":
    threading.Thread(target=exit_when_orphaned, args=(os.getppid(),), daemon=True).start()
    main(sys.argv[1:])
