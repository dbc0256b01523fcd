package dev.oialr4j.autograd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.oialr4j.backend.Backend;
import java.util.SplittableRandom;

/**
 * Finite-difference gradient checks against an independent double-precision reference. For an op with
 * output y, the scalar checked is L = Σ w ⊙ y with fixed random weights w. The analytic gradient comes
 * from our float32 autograd; the numeric one from central differences of the reference forward in
 * double, so float rounding does not pollute the numeric side.
 */
final class GradCheck {

    /** The op under test, built from autograd variables. */
    interface Op {
        Variable apply(Ops ops, Variable[] in);
    }

    /** Reference forward in double: inputs (flat, row-major) to the flat output. */
    interface Ref {
        double[] apply(double[][] in);
    }

    /** Input generator: value for input {@code which}, element {@code i}. */
    interface Gen {
        double next(SplittableRandom rng, int which, int i);
    }

    static final Gen UNIFORM = (rng, which, i) -> rng.nextDouble(-1, 1);

    /** Values bounded away from 0, for kinks such as ReLU. */
    static final Gen AWAY_FROM_ZERO = (rng, which, i) -> {
        double v = rng.nextDouble(0.05, 1);
        return rng.nextBoolean() ? v : -v;
    };

    private GradCheck() {
    }

    /**
     * Checks forward values against the reference (relative {@code fwdTol}) and gradients of every input
     * marked in {@code grad} against central differences (relative {@code gradTol} in the 2-norm).
     */
    static void check(Backend be, String name, long seed, int[][] shapes, boolean[] grad, Gen gen, Op op, Ref ref,
            double fwdTol, double gradTol) {
        SplittableRandom rng = new SplittableRandom(seed);
        int k = shapes.length;
        double[][] x = new double[k][];
        Variable[] vars = new Variable[k];
        for (int j = 0; j < k; j++) {
            int n = 1;
            for (int d : shapes[j]) {
                n *= d;
            }
            x[j] = new double[n];
            float[] f = new float[n];
            for (int i = 0; i < n; i++) {
                f[i] = (float) gen.next(rng, j, i);
                x[j][i] = f[i]; // reference sees exactly the float inputs
            }
            vars[j] = new Variable(be.fromHost(f, shapes[j]), grad[j]);
        }
        Tape tape = new Tape(be);
        Ops ops = new Ops(tape);
        Variable y = op.apply(ops, vars);
        double[] yRef = ref.apply(x);
        float[] yv = be.toHost(y.value());
        assertEquals(yRef.length, yv.length, name + ": output size");
        assertClose(name + " forward", yRef, toDouble(yv), fwdTol);

        double[] w = new double[yRef.length];
        float[] wf = new float[w.length];
        for (int i = 0; i < w.length; i++) {
            wf[i] = (float) rng.nextDouble(-1, 1);
            w[i] = wf[i];
        }
        Variable loss = ops.sum(ops.mul(y, Variable.constant(be.fromHost(wf, y.dims()))));
        tape.backward(loss);
        for (int j = 0; j < k; j++) {
            if (!grad[j]) {
                continue;
            }
            assertNotNull(vars[j].grad(), name + ": input " + j + " got no gradient");
            double[] analytic = toDouble(be.toHost(vars[j].grad()));
            double[] numeric = new double[x[j].length];
            for (int i = 0; i < numeric.length; i++) {
                double orig = x[j][i];
                double h = 1e-6 * Math.max(1, Math.abs(orig));
                x[j][i] = orig + h;
                double lp = dot(w, ref.apply(x));
                x[j][i] = orig - h;
                double lm = dot(w, ref.apply(x));
                x[j][i] = orig;
                numeric[i] = (lp - lm) / (2 * h);
            }
            assertClose(name + " gradient of input " + j, numeric, analytic, gradTol);
        }
    }

    static void assertClose(String what, double[] expected, double[] actual, double tol) {
        double num = 0;
        double den = 0;
        for (int i = 0; i < expected.length; i++) {
            double d = expected[i] - actual[i];
            num += d * d;
            den += expected[i] * expected[i];
        }
        double rel = Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-12);
        assertTrue(rel <= tol, what + ": relative error " + rel + " exceeds " + tol);
    }

    static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }

    static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }

}
