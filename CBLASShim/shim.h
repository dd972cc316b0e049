// CBLASShim: the engine's only C boundary. No stable API; imported by the
// NumericKernels module alone.
//
// Complex types: OpenBLAS and LAPACKE default to C99 `_Complex`, which Swift
// imports as OpaquePointer and which hides every function taking a complex
// value by value. Asking both headers for a plain struct makes them import.
#ifndef B4B_CBLAS_SHIM_H
#define B4B_CBLAS_SHIM_H

#define FORCE_OPENBLAS_COMPLEX_STRUCT 1
#include <cblas.h>

#define LAPACK_COMPLEX_CUSTOM 1
#define lapack_complex_float openblas_complex_float
#define lapack_complex_double openblas_complex_double
#include <lapacke.h>

#endif
