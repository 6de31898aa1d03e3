"""cffi build script for a tiny self-test module proving the native toolchain works."""

from cffi import FFI

ffibuilder = FFI()
ffibuilder.cdef("int spacemesh_native_abi_version(void);")
ffibuilder.set_source(
    "spacemesh_core._native_selftest",
    "int spacemesh_native_abi_version(void) { return 1; }",
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
