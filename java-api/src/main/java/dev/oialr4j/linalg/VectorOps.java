package dev.oialr4j.linalg;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.VectorSpecies;

/** Level-1 kernels on double arrays (offset + length), vectorised. Callers validate ranges. */
final class VectorOps {

    static final VectorSpecies<Double> S = DoubleVector.SPECIES_PREFERRED;
    static final int L = S.length();

    private VectorOps() {}

    /** Σ a[ao+i]·b[bo+i]. */
    static double dot(double[] a, int ao, double[] b, int bo, int len) {
        int i = 0;
        double sum = 0;
        if (len >= 2 * L) {
            var s0 = DoubleVector.zero(S);
            var s1 = DoubleVector.zero(S);
            var s2 = DoubleVector.zero(S);
            var s3 = DoubleVector.zero(S);
            for (; i <= len - 4 * L; i += 4 * L) {
                s0 = DoubleVector.fromArray(S, a, ao + i).fma(DoubleVector.fromArray(S, b, bo + i), s0);
                s1 = DoubleVector.fromArray(S, a, ao + i + L).fma(DoubleVector.fromArray(S, b, bo + i + L), s1);
                s2 = DoubleVector.fromArray(S, a, ao + i + 2 * L)
                        .fma(DoubleVector.fromArray(S, b, bo + i + 2 * L), s2);
                s3 = DoubleVector.fromArray(S, a, ao + i + 3 * L)
                        .fma(DoubleVector.fromArray(S, b, bo + i + 3 * L), s3);
            }
            for (; i <= len - L; i += L) {
                s0 = DoubleVector.fromArray(S, a, ao + i).fma(DoubleVector.fromArray(S, b, bo + i), s0);
            }
            sum = sumLanes(s0.add(s1).add(s2.add(s3)));
        }
        for (; i < len; i++) {
            sum = Math.fma(a[ao + i], b[bo + i], sum);
        }
        return sum;
    }

    /** y[yo+i] += alpha·x[xo+i]. */
    static void axpy(double alpha, double[] x, int xo, double[] y, int yo, int len) {
        int i = 0;
        if (len >= L) {
            var av = DoubleVector.broadcast(S, alpha);
            for (; i <= len - 2 * L; i += 2 * L) {
                DoubleVector.fromArray(S, x, xo + i).fma(av, DoubleVector.fromArray(S, y, yo + i))
                        .intoArray(y, yo + i);
                DoubleVector.fromArray(S, x, xo + i + L).fma(av, DoubleVector.fromArray(S, y, yo + i + L))
                        .intoArray(y, yo + i + L);
            }
            for (; i <= len - L; i += L) {
                DoubleVector.fromArray(S, x, xo + i).fma(av, DoubleVector.fromArray(S, y, yo + i))
                        .intoArray(y, yo + i);
            }
        }
        for (; i < len; i++) {
            y[yo + i] = Math.fma(alpha, x[xo + i], y[yo + i]);
        }
    }

    /** Rows q = 0..3 of y (at yo + q·stride): y_q += a_q·x. */
    static void axpy4(double a0, double a1, double a2, double a3, double[] x, int xo, double[] y, int yo,
                      int stride, int len) {
        int o0 = yo;
        int o1 = yo + stride;
        int o2 = yo + 2 * stride;
        int o3 = yo + 3 * stride;
        int i = 0;
        if (len >= L) {
            var b0 = DoubleVector.broadcast(S, a0);
            var b1 = DoubleVector.broadcast(S, a1);
            var b2 = DoubleVector.broadcast(S, a2);
            var b3 = DoubleVector.broadcast(S, a3);
            for (; i <= len - L; i += L) {
                var xv = DoubleVector.fromArray(S, x, xo + i);
                xv.fma(b0, DoubleVector.fromArray(S, y, o0 + i)).intoArray(y, o0 + i);
                xv.fma(b1, DoubleVector.fromArray(S, y, o1 + i)).intoArray(y, o1 + i);
                xv.fma(b2, DoubleVector.fromArray(S, y, o2 + i)).intoArray(y, o2 + i);
                xv.fma(b3, DoubleVector.fromArray(S, y, o3 + i)).intoArray(y, o3 + i);
            }
        }
        for (; i < len; i++) {
            double xv = x[xo + i];
            y[o0 + i] = Math.fma(a0, xv, y[o0 + i]);
            y[o1 + i] = Math.fma(a1, xv, y[o1 + i]);
            y[o2 + i] = Math.fma(a2, xv, y[o2 + i]);
            y[o3 + i] = Math.fma(a3, xv, y[o3 + i]);
        }
    }

    /** y += alpha·x, then returns (updated y)·z; one pass over y. */
    static double axpyDot(double alpha, double[] x, int xo, double[] y, int yo, double[] z, int zo, int len) {
        int i = 0;
        double sum = 0;
        if (len >= L) {
            var av = DoubleVector.broadcast(S, alpha);
            var s0 = DoubleVector.zero(S);
            var s1 = DoubleVector.zero(S);
            for (; i <= len - 2 * L; i += 2 * L) {
                var y0 = DoubleVector.fromArray(S, x, xo + i).fma(av, DoubleVector.fromArray(S, y, yo + i));
                var y1 = DoubleVector.fromArray(S, x, xo + i + L).fma(av, DoubleVector.fromArray(S, y, yo + i + L));
                y0.intoArray(y, yo + i);
                y1.intoArray(y, yo + i + L);
                s0 = y0.fma(DoubleVector.fromArray(S, z, zo + i), s0);
                s1 = y1.fma(DoubleVector.fromArray(S, z, zo + i + L), s1);
            }
            for (; i <= len - L; i += L) {
                var y0 = DoubleVector.fromArray(S, x, xo + i).fma(av, DoubleVector.fromArray(S, y, yo + i));
                y0.intoArray(y, yo + i);
                s0 = y0.fma(DoubleVector.fromArray(S, z, zo + i), s0);
            }
            sum = sumLanes(s0.add(s1));
        }
        for (; i < len; i++) {
            double v = Math.fma(alpha, x[xo + i], y[yo + i]);
            y[yo + i] = v;
            sum = Math.fma(v, z[zo + i], sum);
        }
        return sum;
    }

    /**
     * Two rows at once: y_q += alpha_q·x for the rows at yo0 and yo1 of y, then dots[q] = (updated y_q)·z.
     * x and z are loaded once for both rows; each row gets exactly the arithmetic of {@link #axpyDot}.
     */
    static void axpyDot2(double alpha0, double alpha1, double[] x, int xo, double[] y, int yo0, int yo1,
                         double[] z, int zo, int len, double[] dots) {
        int i = 0;
        double sum0 = 0;
        double sum1 = 0;
        if (len >= L) {
            var a0 = DoubleVector.broadcast(S, alpha0);
            var a1 = DoubleVector.broadcast(S, alpha1);
            var s00 = DoubleVector.zero(S);
            var s01 = DoubleVector.zero(S);
            var s10 = DoubleVector.zero(S);
            var s11 = DoubleVector.zero(S);
            for (; i <= len - 2 * L; i += 2 * L) {
                var x0 = DoubleVector.fromArray(S, x, xo + i);
                var x1 = DoubleVector.fromArray(S, x, xo + i + L);
                var z0 = DoubleVector.fromArray(S, z, zo + i);
                var z1 = DoubleVector.fromArray(S, z, zo + i + L);
                var p0 = x0.fma(a0, DoubleVector.fromArray(S, y, yo0 + i));
                var p1 = x1.fma(a0, DoubleVector.fromArray(S, y, yo0 + i + L));
                p0.intoArray(y, yo0 + i);
                p1.intoArray(y, yo0 + i + L);
                s00 = p0.fma(z0, s00);
                s01 = p1.fma(z1, s01);
                var q0 = x0.fma(a1, DoubleVector.fromArray(S, y, yo1 + i));
                var q1 = x1.fma(a1, DoubleVector.fromArray(S, y, yo1 + i + L));
                q0.intoArray(y, yo1 + i);
                q1.intoArray(y, yo1 + i + L);
                s10 = q0.fma(z0, s10);
                s11 = q1.fma(z1, s11);
            }
            for (; i <= len - L; i += L) {
                var x0 = DoubleVector.fromArray(S, x, xo + i);
                var z0 = DoubleVector.fromArray(S, z, zo + i);
                var p0 = x0.fma(a0, DoubleVector.fromArray(S, y, yo0 + i));
                p0.intoArray(y, yo0 + i);
                s00 = p0.fma(z0, s00);
                var q0 = x0.fma(a1, DoubleVector.fromArray(S, y, yo1 + i));
                q0.intoArray(y, yo1 + i);
                s10 = q0.fma(z0, s10);
            }
            sum0 = sumLanes(s00.add(s01));
            sum1 = sumLanes(s10.add(s11));
        }
        for (; i < len; i++) {
            double xv = x[xo + i];
            double zv = z[zo + i];
            double v0 = Math.fma(alpha0, xv, y[yo0 + i]);
            y[yo0 + i] = v0;
            sum0 = Math.fma(v0, zv, sum0);
            double v1 = Math.fma(alpha1, xv, y[yo1 + i]);
            y[yo1 + i] = v1;
            sum1 = Math.fma(v1, zv, sum1);
        }
        dots[0] = sum0;
        dots[1] = sum1;
    }

    /**
     * Two rows at once: y_q += alpha_q·x for the rows at yo0 and yo1, then z += beta0·y_0 followed by
     * z += beta1·y_1 (the order and rounding of two calls of {@link #axpyAccumulate}); x and z are
     * loaded and z stored once.
     */
    static void axpyAccumulate2(double alpha0, double alpha1, double[] x, int xo, double[] y, int yo0, int yo1,
                                double beta0, double beta1, double[] z, int zo, int len) {
        int i = 0;
        if (len >= L) {
            var a0 = DoubleVector.broadcast(S, alpha0);
            var a1 = DoubleVector.broadcast(S, alpha1);
            var b0 = DoubleVector.broadcast(S, beta0);
            var b1 = DoubleVector.broadcast(S, beta1);
            for (; i <= len - L; i += L) {
                var xv = DoubleVector.fromArray(S, x, xo + i);
                var p = xv.fma(a0, DoubleVector.fromArray(S, y, yo0 + i));
                var q = xv.fma(a1, DoubleVector.fromArray(S, y, yo1 + i));
                p.intoArray(y, yo0 + i);
                q.intoArray(y, yo1 + i);
                q.fma(b1, p.fma(b0, DoubleVector.fromArray(S, z, zo + i))).intoArray(z, zo + i);
            }
        }
        for (; i < len; i++) {
            double xv = x[xo + i];
            double p = Math.fma(alpha0, xv, y[yo0 + i]);
            double q = Math.fma(alpha1, xv, y[yo1 + i]);
            y[yo0 + i] = p;
            y[yo1 + i] = q;
            z[zo + i] = Math.fma(beta1, q, Math.fma(beta0, p, z[zo + i]));
        }
    }

    /** y += alpha·x, then z += beta·(updated y); one pass. */
    static void axpyAccumulate(double alpha, double[] x, int xo, double[] y, int yo, double beta,
                               double[] z, int zo, int len) {
        int i = 0;
        if (len >= L) {
            var av = DoubleVector.broadcast(S, alpha);
            var bv = DoubleVector.broadcast(S, beta);
            for (; i <= len - L; i += L) {
                var y0 = DoubleVector.fromArray(S, x, xo + i).fma(av, DoubleVector.fromArray(S, y, yo + i));
                y0.intoArray(y, yo + i);
                y0.fma(bv, DoubleVector.fromArray(S, z, zo + i)).intoArray(z, zo + i);
            }
        }
        for (; i < len; i++) {
            double v = Math.fma(alpha, x[xo + i], y[yo + i]);
            y[yo + i] = v;
            z[zo + i] = Math.fma(beta, v, z[zo + i]);
        }
    }

    /** x *= alpha. */
    static void scale(double alpha, double[] x, int xo, int len) {
        int i = 0;
        if (len >= L) {
            var av = DoubleVector.broadcast(S, alpha);
            for (; i <= len - L; i += L) {
                DoubleVector.fromArray(S, x, xo + i).mul(av).intoArray(x, xo + i);
            }
        }
        for (; i < len; i++) {
            x[xo + i] *= alpha;
        }
    }

    /**
     * Plane rotation of two rows of length len: x ← c·x + s·y, y ← c·y − s·x (the convention the
     * bidiagonal QR records).
     */
    static void rotate(double[] a, int xo, int yo, int len, double c, double s) {
        int i = 0;
        if (len >= L) {
            var cv = DoubleVector.broadcast(S, c);
            var sv = DoubleVector.broadcast(S, s);
            var nsv = DoubleVector.broadcast(S, -s);
            for (; i <= len - L; i += L) {
                var x = DoubleVector.fromArray(S, a, xo + i);
                var y = DoubleVector.fromArray(S, a, yo + i);
                x.fma(cv, y.mul(sv)).intoArray(a, xo + i);
                x.fma(nsv, y.mul(cv)).intoArray(a, yo + i);
            }
        }
        for (; i < len; i++) {
            double x = a[xo + i];
            double y = a[yo + i];
            a[xo + i] = c * x + s * y;
            a[yo + i] = c * y - s * x;
        }
    }

    /**
     * √(f² + g²) without the cost of {@link Math#hypot} in the common range, falling back to it where
     * squaring could overflow or lose the result to underflow.
     */
    static double hypot(double f, double g) {
        double ss = f * f + g * g;
        if (ss > 1e-290 && ss < 1e290) {
            return Math.sqrt(ss);
        }
        return Math.hypot(f, g);
    }

    /**
     * Sums the lanes left to right. {@code reduceLanes(ADD)} may add in a different order in compiled
     * and interpreted code, which made results depend on JIT timing; a fixed order keeps every
     * decomposition reproducible from the first call.
     */
    static double sumLanes(DoubleVector v) {
        double s = 0;
        for (int l = 0; l < v.length(); l++) {
            s += v.lane(l);
        }
        return s;
    }
}
