def simulate_to_file(*a, **k): raise NotImplementedError
