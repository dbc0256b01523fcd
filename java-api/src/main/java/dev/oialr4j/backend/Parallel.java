package dev.oialr4j.backend;

import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A fixed set of worker threads for data-parallel loops. The calling thread always runs the first
 * chunk itself, so a pool of {@code n} threads keeps {@code n - 1} workers. Results never depend on
 * the number of threads: work is split into chunks whose outputs do not overlap.
 */
public final class Parallel implements AutoCloseable {

    /** A body over the half-open range [from, to). */
    @FunctionalInterface
    public interface RangeBody {
        void run(int from, int to);
    }

    /** A body for chunk {@code index} of {@code count}. */
    @FunctionalInterface
    public interface ChunkBody {
        void run(int index, int count);
    }

    private final int threads;
    private final ExecutorService workers;
    /** True on a thread while it runs chunks of one of this pool's loops. */
    private final ThreadLocal<Boolean> insideLoop = ThreadLocal.withInitial(() -> Boolean.FALSE);

    public Parallel(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        }
        this.threads = threads;
        if (threads == 1) {
            this.workers = null;
        } else {
            AtomicInteger id = new AtomicInteger();
            this.workers = Executors.newFixedThreadPool(threads - 1, r -> {
                Thread t = new Thread(r, "oialr4j-cpu-" + id.incrementAndGet());
                t.setDaemon(true);
                return t;
            });
        }
    }

    public int threads() {
        return threads;
    }

    /**
     * Runs {@code body} over [0, n) split into at most {@code threads} contiguous ranges, none smaller
     * than {@code grain} elements (so small loops stay on the calling thread).
     */
    public void forRange(int n, int grain, RangeBody body) {
        if (n <= 0) {
            return;
        }
        int chunks = Math.max(1, Math.min(threads, n / Math.max(1, grain)));
        if (chunks == 1) {
            body.run(0, n);
            return;
        }
        forChunks(chunks, (i, count) -> {
            long from = (long) n * i / count;
            long to = (long) n * (i + 1) / count;
            if (to > from) {
                body.run((int) from, (int) to);
            }
        });
    }

    /** Runs {@code body(i, count)} for i in [0, count), spread over the threads; count may exceed threads. */
    public void forChunks(int count, ChunkBody body) {
        if (count <= 0) {
            return;
        }
        // A loop started from inside a running loop of this pool runs inline: its tasks would queue
        // behind the busy workers that are waiting for it, and the pool would deadlock.
        if (workers == null || count == 1 || insideLoop.get()) {
            for (int i = 0; i < count; i++) {
                body.run(i, count);
            }
            return;
        }
        AtomicInteger next = new AtomicInteger();
        Runnable drain = () -> {
            boolean outer = insideLoop.get();
            insideLoop.set(true);
            try {
                int i;
                while ((i = next.getAndIncrement()) < count) {
                    body.run(i, count);
                }
            } finally {
                insideLoop.set(outer);
            }
        };
        int helpers = Math.min(threads - 1, count - 1);
        @SuppressWarnings("unchecked")
        Future<?>[] futures = new Future<?>[helpers];
        for (int h = 0; h < helpers; h++) {
            futures[h] = workers.submit(drain);
        }
        Throwable failure = null;
        try {
            drain.run();
        } catch (RuntimeException | Error e) {
            failure = e;
        }
        for (Future<?> f : futures) {
            try {
                f.get();
            } catch (ExecutionException e) {
                if (failure == null) {
                    failure = e.getCause();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                if (failure == null) {
                    failure = e;
                }
            }
        }
        if (failure instanceof RuntimeException re) {
            throw re;
        }
        if (failure instanceof Error err) {
            throw err;
        }
        if (failure != null) {
            throw new IllegalStateException("parallel loop interrupted", failure);
        }
    }

    @Override
    public void close() {
        if (workers != null) {
            workers.shutdownNow();
        }
    }
}
