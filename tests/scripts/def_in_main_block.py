from interpool import Pool

if __name__ == "__main__":

    def nested(x):
        return x + 1

    with Pool(2) as pool:
        print(pool.submit(nested, 1).result(), list(pool.map(nested, range(3))))
