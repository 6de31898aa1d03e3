"""The native PoST prover plugin: the AES-NI/VAES scan in C over memory-mapped data, RandomX k2pow."""
