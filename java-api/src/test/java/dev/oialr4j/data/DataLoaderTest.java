package dev.oialr4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.NoSuchElementException;
import org.junit.jupiter.api.Test;

class DataLoaderTest {

    /** n examples of 3 features; example i holds (i, i + 0.5, -i) and label i, so batches reveal indices. */
    private static Dataset indexed(int n) {
        float[] x = new float[n * 3];
        int[] y = new int[n];
        for (int i = 0; i < n; i++) {
            x[3 * i] = i;
            x[3 * i + 1] = i + 0.5f;
            x[3 * i + 2] = -i;
            y[i] = i;
        }
        return new Dataset("indexed", x, y, n, 3);
    }

    private static List<Integer> visit(Iterable<Batch> batches) {
        List<Integer> seen = new ArrayList<>();
        for (Batch b : batches) {
            float[] x = b.x().data();
            for (int r = 0; r < b.size(); r++) {
                int i = b.labels()[r];
                // The row must be the example the label says it is.
                assertEquals(i, x[3 * r]);
                assertEquals(i + 0.5f, x[3 * r + 1]);
                assertEquals(-i, x[3 * r + 2]);
                seen.add(i);
            }
        }
        return seen;
    }

    @Test
    void sameSeedSameOrderDifferentSeedOrEpochDifferentOrder() {
        Dataset d = indexed(100);
        var a = DataLoader.builder(d).batchSize(16).seed(7).build();
        var b = DataLoader.builder(d).batchSize(16).seed(7).build();
        var c = DataLoader.builder(d).batchSize(16).seed(8).build();
        assertEquals(visit(a.epoch(0)), visit(b.epoch(0)));
        assertEquals(visit(a.epoch(3)), visit(b.epoch(3)));
        assertNotEquals(visit(a.epoch(0)), visit(c.epoch(0)));
        assertNotEquals(visit(a.epoch(0)), visit(a.epoch(1)));
        // Epoch e does not depend on which epochs were iterated before it.
        assertEquals(visit(b.epoch(5)), visit(a.epoch(5)));
    }

    @Test
    void implicitEpochsAdvance() {
        Dataset d = indexed(50);
        var a = DataLoader.builder(d).batchSize(8).seed(1).build();
        var b = DataLoader.builder(d).batchSize(8).seed(1).build();
        assertEquals(visit(a.epoch(0)), visit(b));
        assertEquals(visit(a.epoch(1)), visit(b));
    }

    @Test
    void epochSeedsDoNotAliasAcrossSeeds() {
        assertNotEquals(DataLoader.epochSeed(42, 0), DataLoader.epochSeed(41, 1));
        assertNotEquals(DataLoader.epochSeed(0, 0), DataLoader.epochSeed(0, 1));
    }

    @Test
    void everyExampleOncePerEpoch() {
        Dataset d = indexed(103);
        var loader = DataLoader.builder(d).batchSize(10).seed(123).build();
        assertEquals(11, loader.batchesPerEpoch());
        for (int epoch = 0; epoch < 3; epoch++) {
            List<Integer> seen = visit(loader.epoch(epoch));
            assertEquals(103, seen.size());
            int[] sorted = seen.stream().mapToInt(Integer::intValue).sorted().toArray();
            for (int i = 0; i < 103; i++) {
                assertEquals(i, sorted[i]);
            }
            assertFalse(seen.equals(seen.stream().sorted().toList()), "a shuffled epoch should not be sorted");
        }
    }

    @Test
    void batchShapesAndLastBatch() {
        Dataset d = indexed(23);
        var keep = DataLoader.builder(d).batchSize(10).shuffle(false).build();
        List<int[]> shapes = new ArrayList<>();
        for (Batch b : keep.epoch(0)) {
            shapes.add(b.x().dims());
        }
        assertEquals(3, shapes.size());
        assertArrayEquals(new int[] {10, 3}, shapes.get(0));
        assertArrayEquals(new int[] {3, 3}, shapes.get(2));
        assertEquals(visit(keep.epoch(0)), java.util.stream.IntStream.range(0, 23).boxed().toList(),
                "unshuffled order is data set order");
    }

    @Test
    void dropLastSkipsTheSmallBatch() {
        Dataset d = indexed(23);
        var loader = DataLoader.builder(d).batchSize(10).dropLast(true).seed(3).build();
        assertEquals(2, loader.batchesPerEpoch());
        int batches = 0;
        for (Batch b : loader.epoch(0)) {
            assertEquals(10, b.size());
            batches++;
        }
        assertEquals(2, batches);
        List<Integer> seen = visit(loader.epoch(0));
        assertEquals(20, seen.size());
        assertEquals(20, seen.stream().distinct().count());
        // The dropped examples change from epoch to epoch, so none is left out for good.
        assertNotEquals(visit(loader.epoch(0)), visit(loader.epoch(1)));
        assertEquals(0, DataLoader.builder(indexed(5)).batchSize(10).dropLast(true).build().batchesPerEpoch());
    }

    @Test
    void keepShapeGivesExampleShape() {
        var d = new Dataset("img", new float[4 * 2 * 2], new int[4], 1, 1, 2, 2);
        Batch b = DataLoader.builder(d).batchSize(3).keepShape(true).build().epoch(0).iterator().next();
        assertArrayEquals(new int[] {3, 1, 2, 2}, b.x().dims());
    }

    @Test
    void reusedBuffersAreSharedButContentsRight() {
        Dataset d = indexed(25);
        var loader = DataLoader.builder(d).batchSize(10).reuseBuffers(true).seed(9).build();
        var it = loader.epoch(0).iterator();
        Batch first = it.next();
        float[] firstArray = first.x().data();
        List<Integer> seen = new ArrayList<>(visit(List.of(first)));
        Batch second = it.next();
        assertSame(firstArray, second.x().data());
        seen.addAll(visit(List.of(second)));
        Batch last = it.next();
        assertEquals(5, last.size());
        seen.addAll(visit(List.of(last)));
        assertFalse(it.hasNext());
        assertThrows(NoSuchElementException.class, it::next);
        assertEquals(visit(DataLoader.builder(d).batchSize(10).seed(9).build().epoch(0)), seen,
                "reusing buffers must not change the batches");
    }

    @Test
    void orderIsAPermutation() {
        int[] order = DataLoader.builder(indexed(1000)).seed(5).build().order(2);
        int[] sorted = order.clone();
        Arrays.sort(sorted);
        for (int i = 0; i < sorted.length; i++) {
            assertEquals(i, sorted[i]);
        }
        assertTrue(order[0] != 0 || order[1] != 1);
    }

    @Test
    void rejectsBadOptions() {
        assertThrows(IllegalArgumentException.class, () -> DataLoader.builder(indexed(3)).batchSize(0));
        assertThrows(IllegalArgumentException.class, () -> DataLoader.builder(indexed(3)).build().epoch(-1));
    }
}
