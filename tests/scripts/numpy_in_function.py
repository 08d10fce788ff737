import numpy_module

from interpool import Pool


def needs_numpy(x):
    import numpy

    return int(numpy.int64(x))


if __name__ == "__main__":
    with Pool(1) as pool:
        for fn in (needs_numpy, numpy_module.total):
            try:
                pool.submit(fn, 1).result()
            except ImportError as error:
                print(f"{type(error).__module__}.{type(error).__name__}: {error}")
        pool.submit(needs_numpy, 1).result()  # uncaught: its traceback
