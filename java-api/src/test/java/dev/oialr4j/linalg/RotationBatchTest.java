package dev.oialr4j.linalg;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** The batched, scaled (fast Givens) and wavefront application against plain rotations one by one. */
class RotationBatchTest {

    @Test
    void matchesPlainRotationsIncludingSmallCosinesAndLongBatches() {
        Random rnd = new Random(7);
        for (int trial = 0; trial < 300; trial++) {
            int k = 2 + rnd.nextInt(60);
            int len = 1 + rnd.nextInt(80);
            double[] got = new double[k * len];
            for (int i = 0; i < got.length; i++) {
                got[i] = rnd.nextGaussian();
            }
            double[] want = got.clone();
            // Up to 1500 sweeps: row scales would leave their range without the reset.
            int sweeps = trial % 10 == 0 ? 1500 : 1 + rnd.nextInt(12);
            var batch = new RotationBatch(1 << 20, k);
            int lo0 = rnd.nextInt(k - 1);
            int hi0 = lo0 + 1 + rnd.nextInt(k - 1 - lo0);
            for (int q = 0; q < sweeps; q++) {
                int lo = lo0;
                int count = hi0 - lo0;
                if (rnd.nextInt(3) == 0) {
                    lo = rnd.nextInt(k - 1);
                    count = 1 + rnd.nextInt(k - 1 - lo);
                }
                int off = batch.beginSweep(lo, count);
                for (int j = 0; j < count; j++) {
                    int kind = rnd.nextInt(10);
                    double th = kind == 0 ? Math.PI / 2 : kind == 1 ? Math.PI / 2 - 1e-5 * rnd.nextDouble()
                            : 2 * Math.PI * rnd.nextDouble();
                    double c = kind == 0 ? 0 : Math.cos(th);
                    double s = kind == 0 ? 1 : Math.sin(th);
                    batch.setU(off + j, c, s);
                    batch.setV(off + j, 1, 0);
                    for (int i = 0; i < len; i++) {
                        int xo = (lo + j) * len + i;
                        double x = want[xo];
                        double y = want[xo + len];
                        want[xo] = c * x + s * y;
                        want[xo + len] = c * y - s * x;
                    }
                }
                if (!batch.fits(k)) {
                    batch.applyPending(got, len, null, 0);
                }
            }
            batch.flush(got, len, null, 0);
            double err = 0;
            for (int i = 0; i < got.length; i++) {
                err = Math.max(err, Math.abs(got[i] - want[i]));
            }
            assertTrue(err < 1e-11, "trial " + trial + " (" + k + "×" + len + ", " + sweeps + " sweeps): " + err);
        }
    }
}
