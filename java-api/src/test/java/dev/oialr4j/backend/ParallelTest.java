package dev.oialr4j.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicReference;
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

    @Test
    void twoCallersAtOnceEachGetEveryChunkOnce() throws Exception {
        try (Parallel p = new Parallel(3)) {
            int rounds = 2000;
            int chunks = 13;
            AtomicIntegerArray hits = new AtomicIntegerArray(2 * chunks);
            AtomicReference<Throwable> failure = new AtomicReference<>();
            CountDownLatch start = new CountDownLatch(1);
            Thread[] callers = new Thread[2];
            for (int t = 0; t < 2; t++) {
                int base = t * chunks;
                callers[t] = new Thread(() -> {
                    try {
                        start.await();
                        for (int r = 0; r < rounds; r++) {
                            p.forChunks(chunks, (i, n) -> hits.incrementAndGet(base + i));
                        }
                    } catch (Throwable e) {
                        failure.set(e);
                    }
                });
                callers[t].start();
            }
            start.countDown();
            for (Thread t : callers) {
                t.join(30_000);
            }
            if (failure.get() != null) {
                throw new AssertionError(failure.get());
            }
            for (int k = 0; k < 2 * chunks; k++) {
                assertEquals(rounds, hits.get(k), "chunk " + k);
            }
        }
    }

    @Test
    void loopsAfterAPauseLongerThanTheSpinStillRun() throws Exception {
        try (Parallel p = new Parallel(2)) {
            for (int r = 0; r < 3; r++) {
                AtomicIntegerArray hits = new AtomicIntegerArray(8);
                p.forChunks(8, (i, n) -> hits.incrementAndGet(i));
                for (int i = 0; i < 8; i++) {
                    assertEquals(1, hits.get(i));
                }
                Thread.sleep(5 * Parallel.DEFAULT_SPIN_MICROS / 1000 + 5); // the worker has parked by now
            }
        }
    }

    @Test
    void anErrorInAWorkerChunkReachesTheCallerAndThePoolStaysUsable() {
        try (Parallel p = new Parallel(2)) {
            assertThrows(AssertionError.class, () -> p.forChunks(2, (i, n) -> {
                if (i == 1) {
                    throw new AssertionError("boom");
                }
            }));
            AtomicIntegerArray hits = new AtomicIntegerArray(5);
            p.forChunks(5, (i, n) -> hits.incrementAndGet(i));
            for (int i = 0; i < 5; i++) {
                assertEquals(1, hits.get(i));
            }
        }
    }

    @Test
    void aClosedPoolRunsLoopsOnTheCaller() {
        Parallel p = new Parallel(2);
        p.forChunks(4, (i, n) -> { });
        p.close();
        Thread caller = Thread.currentThread();
        AtomicIntegerArray onCaller = new AtomicIntegerArray(4);
        p.forChunks(4, (i, n) -> onCaller.set(i, Thread.currentThread() == caller ? 1 : 0));
        for (int i = 0; i < 4; i++) {
            assertEquals(1, onCaller.get(i));
        }
    }
}
