package dev.oialr4j.optim;

import dev.oialr4j.autograd.Ops;
import dev.oialr4j.autograd.Parameter;
import dev.oialr4j.autograd.Tape;
import dev.oialr4j.autograd.Variable;
import dev.oialr4j.backend.Backend;
import dev.oialr4j.tensor.Tensor;
import java.util.SplittableRandom;

/** Shared helpers of the optimizer tests. */
final class OptimTestSupport {

    private OptimTestSupport() {
    }

    static float[] uniform(long seed, int n, double lo, double hi) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (lo + (hi - lo) * r.nextDouble());
        }
        return a;
    }

    static Parameter param(String name, long seed, int... dims) {
        int n = 1;
        for (int d : dims) {
            n *= d;
        }
        return new Parameter(name, Tensor.of(uniform(seed, n, -1, 1), dims));
    }

    /**
     * Gives {@code p} exactly the gradient {@code g} (overwriting any earlier one) by back-propagating
     * sum(p * g): d/dp = 1 * g, computed exactly in float.
     */
    static void setGrad(Backend be, Parameter p, float[] g) {
        p.zeroGrad();
        Tape tape = new Tape(be);
        Ops ops = new Ops(tape);
        tape.backward(ops.sum(ops.mul(p, Variable.constant(Tensor.of(g.clone(), p.dims())))));
    }

    static float[] values(Parameter p) {
        return p.value().data().clone();
    }

    static double[] toDouble(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i];
        }
        return d;
    }
}
