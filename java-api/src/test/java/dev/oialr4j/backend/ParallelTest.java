package dev.oialr4j.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

/** The pool runs every chunk exactly once, propagates failures, and survives nested loops. */
class ParallelTest {

    @Test
    void everyChunkRunsExactlyOnce() {
        try (Parallel p = new Parallel(2)) {
            AtomicIntegerArray hits = new AtomicIntegerArray(37);
            p.forChunks(37, (i, n) -> hits.incrementAndGet(i));
            for (int i = 0; i < 37; i++) {
                assertEquals(1, hits.get(i), "chunk " + i);
            }
        }
    }

    @Test
    void nestedLoopsDoNotDeadlock() {
        try (Parallel p = new Parallel(2)) {
            AtomicIntegerArray hits = new AtomicIntegerArray(4 * 8);
            assertTimeoutPreemptively(Duration.ofSeconds(10), () ->
                    p.forChunks(4, (i, n) -> p.forChunks(8, (j, m) -> hits.incrementAndGet(i * 8 + j))));
            for (int k = 0; k < 32; k++) {
                assertEquals(1, hits.get(k), "inner chunk " + k);
            }
        }
    }

    @Test
    void aFailingChunkIsRethrownOnTheCaller() {
        try (Parallel p = new Parallel(2)) {
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> p.forChunks(6, (i, n) -> {
                        if (i == 4) {
                            throw new IllegalStateException("chunk 4 failed");
                        }
                    }));
            assertEquals("chunk 4 failed", e.getMessage());
        }
    }
}
