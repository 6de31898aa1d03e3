"""Plugin ``label_store_zarr``: PoST data as post-rs files that are also a zarr v3 array (default)."""
