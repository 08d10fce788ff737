from interpool import Pool


def square(x):
    return x * x


print("top-level print")
with Pool(2) as pool:
    print(list(pool.map(square, range(5))))
