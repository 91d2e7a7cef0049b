/* optim.h: the optimizer ops of adamw.c for non-generic code, both instantiations. */
#ifndef TTT_OPS_OPTIM_H
#define TTT_OPS_OPTIM_H

#include <stdint.h>

double sumsq_f32(const float *g, int64_t n);
double sumsq_f64(const double *g, int64_t n);
void adamw_step_f32(float *p, const float *g, float *m, float *v, int64_t n, double lr, double b1,
                    double b2, double eps, double wd, int64_t t, double gscale);
void adamw_step_f64(double *p, const double *g, double *m, double *v, int64_t n, double lr,
                    double b1, double b2, double eps, double wd, int64_t t, double gscale);

#endif
