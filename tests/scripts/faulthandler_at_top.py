import faulthandler

faulthandler.enable()

from interpool import Pool  # noqa: E402


def square(x):
    return x * x


if __name__ == "__main__":
    with Pool(2) as pool:
        print(sum(pool.map(square, range(10))))
