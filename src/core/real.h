/* real.h: the scalar type of the generic numeric code (ops, layers, model math).
 * Those sources are compiled twice, with TTT_REAL=32 (float, the product path) and
 * TTT_REAL=64 (double, used to check numbers: golden data at 1e-6, finite differences).
 * RF(name) gives the instantiation's symbol: name_f32 or name_f64. Math functions come
 * from <tgmath.h>, so sqrt/exp/tanh pick the float or double version from the argument. */
#ifndef TTT_CORE_REAL_H
#define TTT_CORE_REAL_H

#if !defined(TTT_REAL)
#error "generic sources are compiled with -DTTT_REAL=32 or -DTTT_REAL=64"
#endif

#include <tgmath.h>
/* <tgmath.h> pulls in <complex.h>, whose macros I and complex would clash with our names */
#undef I
#undef complex

#if TTT_REAL == 64
typedef double real;
#define RF(name) name##_f64
#define REAL_NAME "f64"
#elif TTT_REAL == 32
typedef float real;
#define RF(name) name##_f32
#define REAL_NAME "f32"
#else
#error "TTT_REAL must be 32 or 64"
#endif

/* True in one of the two passes (f32): code of a generic file that must exist once, such as a
 * model family's description (model/family.h), goes under #if TTT_ONCE. */
#define TTT_ONCE (TTT_REAL == 32)

/* A constant of the generic type (keeps float arithmetic in float). */
#define RC(x) ((real)(x))

#endif
