from interpool import Pool


def needs_numpy(x):
    import numpy

    return int(numpy.int64(x))


if __name__ == "__main__":
    with Pool(1) as pool:
        pool.submit(needs_numpy, 1).result()
