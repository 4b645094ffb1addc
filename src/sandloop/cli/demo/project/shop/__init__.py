"""A tiny shopping-cart library."""
