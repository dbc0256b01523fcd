package dev.oialr4j.linalg;

/**
 * Singular values and vectors of an upper bidiagonal matrix by implicit-shift QR (Golub–Kahan, as in
 * LINPACK's dsvdc), with relative deflation tests so small singular values are found to high absolute
 * accuracy. The rotations act on the rows of Uᵀ and Vᵀ; the ones of the QR sweeps (nearly all of them)
 * are recorded in a {@link RotationBatch} and applied in cache-friendly batches.
 */
final class BidiagonalQr {

    private static final double EPS = Math.ulp(1.0);
    private static final double TINY = 0x1p-966;

    private BidiagonalQr() {}

    /**
     * On return s holds the singular values (non-negative, unordered) and ut (k×uLen), vt (k×vLen)
     * have been multiplied by the rotations (either may be null when only σ is wanted), so that B = Uᵀ-rows·diag(s)·Vᵀ-rows in the original basis.
     * e has length k (e[k−1] is ignored and cleared).
     */
    static void solve(double[] s, double[] e, int k, double[] ut, int uLen, double[] vt, int vLen) {
        if (k == 0) {
            return;
        }
        e[k - 1] = 0;
        // With vectors, every sweep costs O(k·(uLen + vLen)); without, O(k). So the values are found first
        // without vectors, and the sweeps with vectors then shift by the value each block is converging
        // to (nearly a perfect shift): about a third fewer sweeps. A shift only changes how fast the
        // iteration converges, never what it converges to, so accuracy is that of the plain iteration.
        double[] known = null;
        boolean[] used = null;
        if ((ut != null || vt != null) && k >= KNOWN_SHIFT_MIN) {
            known = s.clone();
            solve(known, e.clone(), k, null, 0, null, 0);
            used = new boolean[k];
        }
        int capacity = (int) Math.min(1 << 16, Math.max(64L, 2L * k * k));
        var batch = new RotationBatch(capacity, k);
        boolean[] negate = new boolean[k];
        int p = k;
        long steps = 0;
        long maxSteps = 40L * k + 100;
        while (p > 0) {
            int kk;
            int kase;
            for (kk = p - 2; kk >= 0; kk--) {
                if (Math.abs(e[kk]) <= TINY + EPS * (Math.abs(s[kk]) + Math.abs(s[kk + 1]))) {
                    e[kk] = 0.0;
                    break;
                }
            }
            if (kk == p - 2) {
                kase = 4;
            } else {
                int ks;
                for (ks = p - 1; ks > kk; ks--) {
                    double t = (ks != p ? Math.abs(e[ks]) : 0.0) + (ks != kk + 1 ? Math.abs(e[ks - 1]) : 0.0);
                    if (Math.abs(s[ks]) <= TINY + EPS * t) {
                        s[ks] = 0.0;
                        break;
                    }
                }
                if (ks == kk) {
                    kase = 3;
                } else if (ks == p - 1) {
                    kase = 1;
                } else {
                    kase = 2;
                    kk = ks;
                }
            }
            kk++;
            switch (kase) {
                case 1 -> {
                    // s[p-1] negligible: chase e[p-2] up with rotations on V (rows j, p-1).
                    batch.flush(ut, uLen, vt, vLen);
                    double f = e[p - 2];
                    e[p - 2] = 0.0;
                    for (int j = p - 2; j >= kk; j--) {
                        double t = VectorOps.hypot(s[j], f);
                        double cs = s[j] / t;
                        double sn = f / t;
                        s[j] = t;
                        if (j != kk) {
                            f = -sn * e[j - 1];
                            e[j - 1] = cs * e[j - 1];
                        }
                        if (vt != null) {
                            VectorOps.rotate(vt, j * vLen, (p - 1) * vLen, vLen, cs, sn);
                        }
                    }
                }
                case 2 -> {
                    // s[kk-1] negligible: split there, chasing e[kk-1] down with rotations on U.
                    batch.flush(ut, uLen, vt, vLen);
                    double f = e[kk - 1];
                    e[kk - 1] = 0.0;
                    for (int j = kk; j < p; j++) {
                        double t = VectorOps.hypot(s[j], f);
                        double cs = s[j] / t;
                        double sn = f / t;
                        s[j] = t;
                        f = -sn * e[j];
                        e[j] = cs * e[j];
                        if (ut != null) {
                            VectorOps.rotate(ut, j * uLen, (kk - 1) * uLen, uLen, cs, sn);
                        }
                    }
                }
                case 3 -> {
                    if (++steps > maxSteps) {
                        throw new ConvergenceException("bidiagonal QR did not converge after " + maxSteps
                                + " sweeps for a bidiagonal of size " + k + " (" + p + " values left)");
                    }
                    qrSweep(s, e, kk, p, batch, ut, uLen, vt, vLen, known, used);
                }
                default -> {
                    if (known != null) {
                        int j = closestUnused(known, used, Math.abs(s[kk]));
                        if (j >= 0) {
                            used[j] = true;
                        }
                    }
                    // Converged: s[p-1] is final; make it non-negative. Row p-1 is never rotated again.
                    if (s[kk] < 0.0) {
                        // Negated after the last flush: pending rotations still touch this row.
                        s[kk] = -s[kk];
                        negate[kk] = true;
                    } else if (s[kk] == 0.0) {
                        s[kk] = 0.0; // clears -0.0
                    }
                    p--;
                }
            }
        }
        batch.flush(ut, uLen, vt, vLen);
        for (int j = 0; j < k; j++) {
            if (negate[j] && vt != null) {
                VectorOps.scale(-1.0, vt, j * vLen, vLen);
            }
        }
    }

    /** Sizes from which the values are computed first and used as shifts (below, it does not pay). */
    private static final int KNOWN_SHIFT_MIN = 24;

    /** Index of the value in known (any order) nearest to x among those not used yet, or -1. */
    private static int closestUnused(double[] known, boolean[] used, double x) {
        int best = -1;
        double dist = Double.POSITIVE_INFINITY;
        for (int j = 0; j < known.length; j++) {
            if (!used[j]) {
                double d = Math.abs(Math.abs(known[j]) - x);
                if (d < dist) {
                    dist = d;
                    best = j;
                }
            }
        }
        return best;
    }

    private static void qrSweep(double[] s, double[] e, int kk, int p, RotationBatch batch,
                                double[] ut, int uLen, double[] vt, int vLen, double[] known, boolean[] used) {
        // Shift from the trailing 2×2 of BᵀB, computed on scaled values.
        double scale = Math.max(Math.max(Math.max(Math.max(
                Math.abs(s[p - 1]), Math.abs(s[p - 2])), Math.abs(e[p - 2])), Math.abs(s[kk])), Math.abs(e[kk]));
        double sp = s[p - 1] / scale;
        double spm1 = s[p - 2] / scale;
        double epm1 = e[p - 2] / scale;
        double sk = s[kk] / scale;
        double ek = e[kk] / scale;
        double b = ((spm1 + sp) * (spm1 - sp) + epm1 * epm1) / 2.0;
        double c = (sp * epm1) * (sp * epm1);
        double shift = 0.0;
        if (b != 0.0 || c != 0.0) {
            shift = Math.sqrt(b * b + c);
            if (b < 0.0) {
                shift = -shift;
            }
            shift = c / (b + shift);
        }
        double f = (sk + sp) * (sk - sp) + shift;
        if (known != null) {
            // The shift above is σ² ≈ sp² − shift (scaled); take the known value nearest to it instead.
            double mu = sp * sp - shift;
            int j = closestUnused(known, used, mu > 0 ? Math.sqrt(mu) * scale : 0.0);
            if (j >= 0) {
                double sigma = Math.abs(known[j]) / scale;
                f = (sk + sigma) * (sk - sigma);
            }
        }
        double g = sk * ek;
        int count = p - 1 - kk;
        if (!batch.fits(count)) {
            batch.applyPending(ut, uLen, vt, vLen);
        }
        int off = batch.beginSweep(kk, count);
        for (int j = kk; j < p - 1; j++, off++) {
            double t = VectorOps.hypot(f, g);
            double cs;
            double sn;
            if (t == 0) {
                cs = 1;
                sn = 0;
            } else {
                cs = f / t;
                sn = g / t;
            }
            if (j != kk) {
                e[j - 1] = t;
            }
            f = cs * s[j] + sn * e[j];
            e[j] = cs * e[j] - sn * s[j];
            g = sn * s[j + 1];
            s[j + 1] = cs * s[j + 1];
            batch.setV(off, cs, sn);
            t = VectorOps.hypot(f, g);
            if (t == 0) {
                cs = 1;
                sn = 0;
            } else {
                cs = f / t;
                sn = g / t;
            }
            s[j] = t;
            f = cs * e[j] + sn * s[j + 1];
            s[j + 1] = -sn * e[j] + cs * s[j + 1];
            g = sn * e[j + 1];
            e[j + 1] = cs * e[j + 1];
            batch.setU(off, cs, sn);
        }
        e[p - 2] = f;
    }
}
