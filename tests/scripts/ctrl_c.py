import os
import sys
import tempfile
import time

from interpool import Pool

# Made by the caller; the workers, which load this script too, find it in the
# environment (they are created after it is set).
if "CTRL_C_STARTED" not in os.environ:
    os.environ["CTRL_C_STARTED"] = os.path.join(tempfile.mkdtemp(), "started")
STARTED = os.environ["CTRL_C_STARTED"]


def stuck_in_c():
    open(STARTED, "w").close()
    time.sleep(100)  # one C call: no interruption reaches it


def nothing():
    pass


def when_started():
    while not os.path.exists(STARTED):
        time.sleep(0.01)
    print("READY", flush=True)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "time_limit":  # the task outlives its time limit in C, then exit waits
        with Pool(1, task_timeout=1.0) as pool:
            pool.submit(nothing).result()  # the worker is up and has loaded this script
            try:
                pool.submit(stuck_in_c).result()
            except TimeoutError as error:
                print(error, flush=True)
        when_started()
    elif mode == "shutdown":  # shutdown(wait=True) waits for a task in C
        pool = Pool(2)
        pool.submit(stuck_in_c)
        when_started()
        pool.shutdown(wait=True)
    elif mode == "with":  # Ctrl-C inside the block, a task in C
        with Pool(2) as pool:
            pool.submit(stuck_in_c)
            when_started()
            time.sleep(100)
    elif mode == "stubborn":  # the script catches the first Ctrl-C and waits again
        pool = Pool(2)
        pool.submit(stuck_in_c)
        when_started()
        try:
            pool.shutdown(wait=True)
        except KeyboardInterrupt:
            print("first Ctrl-C caught", flush=True)
            time.sleep(100)
