import sys
import time

from interpool import Pool

if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "time_limit":  # the task outlives its time limit in C, then exit waits
        with Pool(2, task_timeout=0.3) as pool:
            try:
                pool.submit(time.sleep, 100).result()
            except TimeoutError as error:
                print(error, flush=True)
        print("READY", flush=True)
    elif mode == "shutdown":  # shutdown(wait=True) waits for a task in C
        pool = Pool(2)
        pool.submit(time.sleep, 100)
        time.sleep(0.3)
        print("READY", flush=True)
        pool.shutdown(wait=True)
    elif mode == "with":  # Ctrl-C inside the block, a task in C
        with Pool(2) as pool:
            pool.submit(time.sleep, 100)
            print("READY", flush=True)
            time.sleep(100)
    elif mode == "stubborn":  # the script catches the first Ctrl-C and waits again
        pool = Pool(2)
        pool.submit(time.sleep, 100)
        time.sleep(0.3)
        print("READY", flush=True)
        try:
            pool.shutdown(wait=True)
        except KeyboardInterrupt:
            print("first Ctrl-C caught", flush=True)
            time.sleep(100)
