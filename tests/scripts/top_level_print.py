from pathlib import Path

from interpool import Pool

print("loading the script")
with Path("side-effect.txt").open("a") as side_effect:  # once per process, not per task
    side_effect.write("x")


def square(x):
    return x * x


if __name__ == "__main__":
    with Pool(2) as pool:
        print(list(pool.map(square, range(20))))
    print(Path("side-effect.txt").read_text())
