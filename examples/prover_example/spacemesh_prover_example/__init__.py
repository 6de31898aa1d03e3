"""Example third-party PoST prover backend: the proving scan vectorized with NumPy and OpenSSL AES."""

from spacemesh_prover_example.scan import NumpyScanBackend, create_numpy_prover

__all__ = ["NumpyScanBackend", "create_numpy_prover"]
