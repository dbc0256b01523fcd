package dev.oialr4j.linalg;

/** Argument checks and small dense helpers shared by the decompositions. */
final class Matrices {

    private Matrices() {}

    static void checkShape(String what, int length, int m, int n) {
        if (m < 1 || n < 1) {
            throw new IllegalArgumentException(what + ": matrix shape must be at least 1×1, got " + m + "×" + n);
        }
        if ((long) m * n != length) {
            throw new IllegalArgumentException(what + ": array of " + length + " elements does not hold a "
                    + m + "×" + n + " matrix (" + ((long) m * n) + " elements)");
        }
    }

    static double[] toDouble(String what, float[] a, int m, int n) {
        checkShape(what, a.length, m, n);
        double[] out = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            float x = a[i];
            if (!Float.isFinite(x)) {
                throw nonFinite(what, x, i, n);
            }
            out[i] = x;
        }
        return out;
    }

    static double[] copyChecked(String what, double[] a, int m, int n) {
        checkShape(what, a.length, m, n);
        for (int i = 0; i < a.length; i++) {
            if (!Double.isFinite(a[i])) {
                throw nonFinite(what, a[i], i, n);
            }
        }
        return a.clone();
    }

    private static IllegalArgumentException nonFinite(String what, double x, int index, int n) {
        return new IllegalArgumentException(what + ": input contains " + x + " at (" + (index / n) + ", "
                + (index % n) + "); only finite values can be decomposed");
    }

    /** The n×m transpose of a row-major m×n matrix. */
    static double[] transpose(double[] a, int m, int n) {
        double[] t = new double[a.length];
        final int b = 32;
        for (int i0 = 0; i0 < m; i0 += b) {
            int i1 = Math.min(m, i0 + b);
            for (int j0 = 0; j0 < n; j0 += b) {
                int j1 = Math.min(n, j0 + b);
                for (int i = i0; i < i1; i++) {
                    for (int j = j0; j < j1; j++) {
                        t[j * m + i] = a[i * n + j];
                    }
                }
            }
        }
        return t;
    }

    /**
     * The indices from..to−1 ordered by keys[i] (ascending, or descending), as {@link Double#compare} orders
     * them; equal keys keep their index order. A plain merge sort on ints: the boxed Integer sort with a
     * comparator it replaces made the JIT compile the JDK's sort once per comparator shape seen, which on
     * two cores delayed the compilation of the SVD's own code by seconds.
     */
    static int[] stableOrder(double[] keys, int from, int to, boolean descending) {
        int len = to - from;
        int[] order = new int[len];
        for (int i = 0; i < len; i++) {
            order[i] = from + i;
        }
        int[] buffer = new int[len];
        for (int width = 1; width < len; width *= 2) {
            for (int lo = 0; lo < len - width; lo += 2 * width) {
                mergeRuns(keys, order, buffer, lo, lo + width, Math.min(len, lo + 2 * width), descending);
            }
        }
        return order;
    }

    /** Merges the sorted runs order[lo..mid) and order[mid..hi), the left one first on ties. */
    private static void mergeRuns(double[] keys, int[] order, int[] buffer, int lo, int mid, int hi,
            boolean descending) {
        System.arraycopy(order, lo, buffer, lo, hi - lo);
        int i = lo;
        int j = mid;
        for (int out = lo; out < hi; out++) {
            if (i == mid) {
                order[out] = buffer[j++];
            } else if (j == hi) {
                order[out] = buffer[i++];
            } else {
                int c = Double.compare(keys[buffer[j]], keys[buffer[i]]);
                boolean rightFirst = descending ? c > 0 : c < 0;
                order[out] = rightFirst ? buffer[j++] : buffer[i++];
            }
        }
    }

    /** Largest |a[i]|. */
    static double maxAbs(double[] a) {
        double mx = 0;
        for (double x : a) {
            mx = Math.max(mx, Math.abs(x));
        }
        return mx;
    }

    /**
     * C (m×n) = A (m×k) · B (k×n), all row-major; four rows of C at a time, so each row of B is read
     * once per four rows of C with contiguous vector updates.
     */
    static double[] multiply(double[] a, double[] b, int m, int k, int n) {
        double[] c = new double[m * n];
        int i = 0;
        for (; i + 4 <= m; i += 4) {
            for (int p = 0; p < k; p++) {
                VectorOps.axpy4(a[i * k + p], a[(i + 1) * k + p], a[(i + 2) * k + p], a[(i + 3) * k + p],
                        b, p * n, c, i * n, n, n);
            }
        }
        for (; i < m; i++) {
            for (int p = 0; p < k; p++) {
                double aip = a[i * k + p];
                if (aip != 0) {
                    VectorOps.axpy(aip, b, p * n, c, i * n, n);
                }
            }
        }
        return c;
    }

    static float[] toFloat(double[] a) {
        float[] f = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            f[i] = (float) a[i];
        }
        return f;
    }
}
