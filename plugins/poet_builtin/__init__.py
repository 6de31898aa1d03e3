"""The built-in PoET: a server (round lifecycle, registration, REST API, native prover) and the client a node uses."""
