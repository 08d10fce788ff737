import numpy as np  # noqa: F401

from interpool import Pool

model = None


def load(scale):
    global model
    model = {"scale": scale}


def predict(x):
    return model["scale"] * x


if __name__ == "__main__":
    with Pool(2, initializer=load, initargs=(3,)) as pool:
        print(list(pool.map(predict, range(4))))
