"""Example protocols: the seed's sugar-pellet experiment with training, and a static one."""
