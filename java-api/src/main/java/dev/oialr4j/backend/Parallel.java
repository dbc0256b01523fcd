package dev.oialr4j.backend;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed set of worker threads for data-parallel loops. The calling thread always runs chunks itself,
 * so a pool of {@code n} threads keeps {@code n - 1} workers. Results never depend on the number of
 * threads: work is split into chunks whose outputs do not overlap.
 *
 * <p><b>Hand-over.</b> A training step issues a few hundred loops of 20 µs to 1 ms each. Handing each to
 * a parked thread (an executor queue) cost 40-50 µs per loop on our 2-vCPU VM, mostly the futex wake-up,
 * which is as long as many of the loops. So a worker that finishes a loop spins (with
 * {@link Thread#onSpinWait}) for up to {@value #DEFAULT_SPIN_MICROS} µs waiting for the next one and
 * only then parks; the caller likewise spins briefly for the last chunk before parking. A loop
 * published to spinning workers starts on them within a microsecond or so.
 *
 * <p><b>Concurrent callers.</b> The workers serve one loop at a time. A loop started while another
 * thread's loop holds them, or from inside one of this pool's own chunks, runs inline on its caller
 * (which can neither deadlock nor change any result).
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

    static final long DEFAULT_SPIN_MICROS = 100;
    /** How long an idle worker (or a waiting caller) spins before it parks. */
    private static final long SPIN_NANOS =
            Math.max(0, Long.getLong("oialr4j.parallel.spinMicros", DEFAULT_SPIN_MICROS)) * 1000;

    /** One loop: its chunks are claimed from {@code next} by the caller and the workers alike. */
    private static final class Job {
        /** Cleared once every chunk has finished, so an idle pool holds no reference to the loop's data. */
        ChunkBody body;
        final int count;
        final Thread caller;
        final AtomicInteger next = new AtomicInteger();
        final AtomicInteger done = new AtomicInteger();
        volatile Throwable failure;
        volatile boolean callerParked;

        Job(ChunkBody body, int count, Thread caller) {
            this.body = body;
            this.count = count;
            this.caller = caller;
        }
    }

    private final int threads;
    /** True on a thread while it runs chunks of one of this pool's loops. */
    private final ThreadLocal<Boolean> insideLoop = ThreadLocal.withInitial(() -> Boolean.FALSE);
    /** Held by the thread whose loop the workers serve. */
    private final AtomicBoolean busy = new AtomicBoolean();
    /** Started on the first parallel loop; written only while {@link #busy} is held. */
    private Worker[] workers;
    private volatile Job current;
    private volatile boolean closed;

    public Parallel(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        }
        this.threads = threads;
    }

    /**
     * The process-wide pool, one thread per available processor, for library code that has no backend
     * to ask: the SVD, the QR and the OIALR rounds share it, so a loop inside another one's chunk runs
     * inline instead of waking a second set of threads onto the same cores.
     */
    public static Parallel common() {
        return Common.POOL;
    }

    private static final class Common {
        static final Parallel POOL = new Parallel(Math.max(1, Runtime.getRuntime().availableProcessors()));
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
        if (threads == 1 || count == 1 || insideLoop.get() || closed || !busy.compareAndSet(false, true)) {
            for (int i = 0; i < count; i++) {
                body.run(i, count);
            }
            return;
        }
        Job job = new Job(body, count, Thread.currentThread());
        try {
            startWorkers();
            current = job;
            for (Worker w : workers) {
                if (w.parked) {
                    LockSupport.unpark(w);
                }
            }
            runChunks(job);
            awaitDone(job);
            current = null;
            job.body = null;
        } finally {
            busy.set(false);
        }
        Throwable failure = job.failure;
        if (failure instanceof RuntimeException re) {
            throw re;
        }
        if (failure instanceof Error err) {
            throw err;
        }
        if (failure != null) {
            throw new IllegalStateException("parallel loop failed", failure);
        }
    }

    private void startWorkers() {
        if (workers == null) {
            Worker[] w = new Worker[threads - 1];
            for (int i = 0; i < w.length; i++) {
                w[i] = new Worker(i + 1);
                w[i].start();
            }
            workers = w;
        }
    }

    /** Claims and runs chunks of job until none is left. After a failure the rest are skipped. */
    private void runChunks(Job job) {
        boolean outer = insideLoop.get();
        insideLoop.set(Boolean.TRUE);
        try {
            int i;
            while ((i = job.next.getAndIncrement()) < job.count) {
                try {
                    if (job.failure == null) {
                        job.body.run(i, job.count);
                    }
                } catch (Throwable t) {
                    synchronized (job) {
                        if (job.failure == null) {
                            job.failure = t;
                        }
                    }
                } finally {
                    // Whoever completes the last chunk wakes the caller if it has gone to sleep. The caller
                    // sets callerParked before it re-reads done, so one of the two always sees the other.
                    if (job.done.incrementAndGet() == job.count && job.callerParked) {
                        LockSupport.unpark(job.caller);
                    }
                }
            }
        } finally {
            insideLoop.set(outer);
        }
    }

    private static void awaitDone(Job job) {
        long start = System.nanoTime();
        boolean interrupted = false;
        while (job.done.get() < job.count) {
            if (System.nanoTime() - start < SPIN_NANOS) {
                Thread.onSpinWait();
                continue;
            }
            job.callerParked = true;
            if (job.done.get() < job.count) {
                LockSupport.park(job);
            }
            // Chunks still running write into the caller's arrays, so an interrupt cannot end the wait.
            if (Thread.interrupted()) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        closed = true;
        Worker[] w = workers;
        if (w != null) {
            for (Worker t : w) {
                LockSupport.unpark(t);
            }
        }
    }

    private final class Worker extends Thread {
        volatile boolean parked;

        Worker(int id) {
            super("oialr4j-cpu-" + id);
            setDaemon(true);
        }

        @Override
        public void run() {
            Job seen = null;
            while (true) {
                Job job = awaitJob(seen);
                if (job == null) {
                    return;
                }
                seen = job;
                runChunks(job);
            }
        }

        /** The next job not yet seen, or null once the pool is closed. */
        private Job awaitJob(Job seen) {
            long start = System.nanoTime();
            while (true) {
                Job job = current;
                if (job != null && job != seen) {
                    return job;
                }
                if (closed) {
                    return null;
                }
                if (System.nanoTime() - start < SPIN_NANOS) {
                    Thread.onSpinWait();
                    continue;
                }
                // The dispatcher publishes the job, then reads parked; we set parked, then re-read the job.
                parked = true;
                job = current;
                if ((job == null || job == seen) && !closed) {
                    LockSupport.park(this);
                }
                parked = false;
                start = System.nanoTime();
            }
        }
    }
}
