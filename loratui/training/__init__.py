"""Training: typed configs, trainer option schemas, step calculator, plans (argv + files), supervised runs."""
