package dev.oialr4j.cuda;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;
import java.util.function.LongConsumer;
import java.util.function.LongUnaryOperator;

/**
 * Device memory by size class, with freed blocks kept for reuse: training allocates the same shapes
 * every step, and {@code cuMemAlloc}/{@code cuMemFree} synchronise the device, so after the first step
 * no allocation reaches the driver.
 *
 * <p>Size classes: requests round up to a multiple of 512 bytes below 1 MiB, and above that to the next
 * of {@code 2^k} or {@code 1.5 · 2^k}, so a block wastes at most a third of itself and a few dozen
 * classes cover every size. A block is reused only for a request of its exact class.
 *
 * <p>Blocks come back when the JVM finds their tensors unreachable, which it does only when it collects
 * garbage; device memory does not fill the Java heap, so the allocator asks for a collection itself when a
 * request finds no cached block after a budget of bytes handed out since the last collection (a quarter of
 * the GPU's memory in {@link CudaBackend}), and when the driver runs out, before giving the cache back to the
 * driver and retrying once. The budget counts every block handed out, cached or fresh, so the memory taken
 * from the driver levels off at about the budget plus what live tensors hold. (Counting only fresh driver
 * memory, as before 2026-11-27, let it grow by a budget per collection until the device was full, which
 * then starved cuSOLVER's own allocations.)
 *
 * <p>Safety with one stream: a block released while kernels that use it are still queued is handed
 * out again only to work queued later on the same stream, which runs after them. Release is called from
 * the {@link java.lang.ref.Cleaner} thread when a tensor's storage becomes unreachable, so the lists are
 * guarded by this object's lock; the allocator never calls the driver from that thread.
 */
final class CachingAllocator {

    static final long SMALL_GRANULE = 512;
    static final long SMALL_LIMIT = 1L << 20;

    private final LongUnaryOperator driverAlloc;
    private final LongConsumer driverFree;
    private final Runnable synchronize;
    private final Runnable collector;
    private final long collectionBudget;
    private long bytesSinceCollection;
    private long collections;
    private final Map<Long, ArrayDeque<Long>> free = new HashMap<>();
    /** Every block obtained from the driver and not yet freed, live or cached: close frees them all. */
    private final java.util.Set<Long> owned = new java.util.HashSet<>();
    private long cachedBytes;
    private long liveBytes;
    private long driverAllocations;
    private boolean closed;

    /**
     * {@code driverAlloc} returns a device pointer or throws {@link CudaException} (out of memory included);
     * {@code synchronize} waits for the stream, so that cached blocks handed back to the driver are no longer
     * used by queued work.
     */
    CachingAllocator(LongUnaryOperator driverAlloc, LongConsumer driverFree, Runnable synchronize) {
        this(driverAlloc, driverFree, synchronize, System::gc, Long.MAX_VALUE);
    }

    /**
     * As above, with the collection policy: after {@code collectionBudget} bytes of fresh driver memory (and
     * on out-of-memory) the allocator runs {@code collector} (System.gc) so that unreachable tensors give
     * their blocks back.
     */
    CachingAllocator(LongUnaryOperator driverAlloc, LongConsumer driverFree, Runnable synchronize, Runnable collector,
            long collectionBudget) {
        this.driverAlloc = driverAlloc;
        this.driverFree = driverFree;
        this.synchronize = synchronize;
        this.collector = collector;
        this.collectionBudget = collectionBudget;
    }

    /** The size class (bytes actually reserved) of a request of {@code bytes}. */
    static long sizeClass(long bytes) {
        if (bytes <= 0) {
            return SMALL_GRANULE;
        }
        if (bytes <= SMALL_LIMIT) {
            return (bytes + SMALL_GRANULE - 1) / SMALL_GRANULE * SMALL_GRANULE;
        }
        long pow = Long.highestOneBit(bytes);
        if (pow == bytes) {
            return bytes;
        }
        long mid = pow + (pow >> 1);
        return bytes <= mid ? mid : pow << 1;
    }

    /** A block of at least {@code bytes}; its class is {@link #sizeClass}. */
    long allocate(long bytes) {
        long cls = sizeClass(bytes);
        Long cached = takeCached(cls);
        if (cached != null) {
            return cached;
        }
        // Blocks come back only when the JVM collects their tensors. Device memory does not make the Java
        // heap fill up, so after a budget of bytes handed out ask for a collection and let the Cleaner
        // return what is dead before growing further.
        if (bytesSinceCollection + cls > collectionBudget) {
            cached = collectAndTake(cls, COLLECTION_WAIT_MILLIS);
            if (cached != null) {
                return cached;
            }
        }
        long ptr;
        try {
            ptr = driverAlloc.applyAsLong(cls);
        } catch (CudaException e) {
            if (e.status() != CudaDriver.CUDA_ERROR_OUT_OF_MEMORY) {
                throw e;
            }
            // Out of memory: collect dead tensors, then give every cached block back to the driver and try
            // once more.
            synchronize.run();
            cached = collectAndTake(cls, OOM_WAIT_MILLIS);
            if (cached != null) {
                return cached;
            }
            releaseCached();
            ptr = driverAlloc.applyAsLong(cls);
        }
        synchronized (this) {
            driverAllocations++;
            liveBytes += cls;
            bytesSinceCollection += cls;
            owned.add(ptr);
        }
        return ptr;
    }

    /** How long an allocation waits for the Cleaner after a budget collection, and after out-of-memory. */
    static final long COLLECTION_WAIT_MILLIS = 20;
    static final long OOM_WAIT_MILLIS = 200;

    private synchronized Long takeCached(long cls) {
        if (closed) {
            throw new IllegalStateException("the CUDA backend is closed");
        }
        ArrayDeque<Long> list = free.get(cls);
        if (list != null && !list.isEmpty()) {
            cachedBytes -= cls;
            liveBytes += cls;
            bytesSinceCollection += cls;
            return list.pop();
        }
        return null;
    }

    /** Runs a collection, then waits up to {@code millis} for a block of class {@code cls} to be released. */
    private Long collectAndTake(long cls, long millis) {
        collect();
        long deadline = System.nanoTime() + millis * 1_000_000;
        do {
            Long cached = takeCached(cls);
            if (cached != null) {
                return cached;
            }
            try {
                Thread.sleep(1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return null;
            }
        } while (System.nanoTime() < deadline);
        return null;
    }

    /** Asks the JVM for a collection (the Cleaner then releases dead tensors' blocks) and restarts the budget. */
    private void collect() {
        synchronized (this) {
            bytesSinceCollection = 0;
            collections++;
        }
        collector.run();
    }

    /** How many collections the allocator asked for. */
    synchronized long collections() {
        return collections;
    }

    /** Returns a block of class {@code cls} to its free list; may be called from any thread. */
    synchronized void release(long ptr, long cls) {
        if (closed) {
            return; // the context is gone or going; its memory goes with it
        }
        free.computeIfAbsent(cls, k -> new ArrayDeque<>()).push(ptr);
        cachedBytes += cls;
        liveBytes -= cls;
    }

    /**
     * Runs a collection, waits until the Cleaner has stopped returning blocks (at most
     * {@link #OOM_WAIT_MILLIS}), then frees every cached block with the driver. Call with the stream
     * synchronised.
     */
    void collectAndReleaseCached() {
        collect();
        long deadline = System.nanoTime() + OOM_WAIT_MILLIS * 1_000_000;
        long last = liveBytes();
        int quiet = 0;
        while (quiet < 10 && System.nanoTime() < deadline) {
            try {
                Thread.sleep(1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
            long now = liveBytes();
            quiet = now == last ? quiet + 1 : 0;
            last = now;
        }
        releaseCached();
    }

    /** Frees every cached block with the driver. Call with the stream synchronised. */
    void releaseCached() {
        Map<Long, ArrayDeque<Long>> toFree;
        synchronized (this) {
            toFree = new HashMap<>(free);
            free.clear();
            cachedBytes = 0;
            for (var list : toFree.values()) {
                owned.removeAll(list);
            }
        }
        for (var list : toFree.values()) {
            for (long ptr : list) {
                driverFree.accept(ptr);
            }
        }
    }

    /**
     * Frees every block with the driver, the cached ones and those still held by tensors (which the backend
     * refuses to use once closed), and stops caching; later releases are dropped. Call with the stream
     * synchronised.
     */
    void close() {
        java.util.List<Long> all;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            all = new java.util.ArrayList<>(owned);
            owned.clear();
            free.clear();
            cachedBytes = 0;
            liveBytes = 0;
        }
        for (long ptr : all) {
            driverFree.accept(ptr);
        }
    }

    synchronized long cachedBytes() {
        return cachedBytes;
    }

    synchronized long liveBytes() {
        return liveBytes;
    }

    /** How many allocations reached the driver. */
    synchronized long driverAllocations() {
        return driverAllocations;
    }
}
