package dev.oialr4j.linalg;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.Arrays;
import java.util.Comparator;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The index sort against the JDK's stable sort of boxed indices with the same comparison. */
class MatricesTest {

    private static final long SEED = System.nanoTime();

    private static int[] reference(double[] keys, int from, int to, boolean descending) {
        Integer[] boxed = new Integer[to - from];
        for (int i = 0; i < boxed.length; i++) {
            boxed[i] = from + i;
        }
        Comparator<Integer> ascending = (p, q) -> Double.compare(keys[p], keys[q]);
        Arrays.sort(boxed, descending ? ascending.reversed() : ascending);
        return Arrays.stream(boxed).mapToInt(Integer::intValue).toArray();
    }

    @Test
    void stableOrderMatchesTheBoxedStableSortWithTiesSignedZerosAndNaN() {
        Random rnd = new Random(SEED);
        for (int len : new int[] {0, 1, 2, 3, 7, 16, 33, 100, 1000}) {
            double[] keys = new double[len + 3];
            for (int i = 0; i < keys.length; i++) {
                // few distinct values, so ties are common; plus the values Double.compare orders specially
                keys[i] = switch (rnd.nextInt(8)) {
                    case 0 -> 0.0;
                    case 1 -> -0.0;
                    case 2 -> Double.NaN;
                    case 3 -> Double.POSITIVE_INFINITY;
                    default -> rnd.nextInt(5) - 2 + 0.5 * rnd.nextInt(2);
                };
            }
            for (boolean descending : new boolean[] {false, true}) {
                int from = Math.min(2, len); // a sub-range: the keys outside it must not matter
                int to = len;
                assertArrayEquals(reference(keys, from, to, descending),
                        Matrices.stableOrder(keys, from, to, descending),
                        "len " + len + ", descending " + descending + ", seed " + SEED);
            }
        }
    }
}
