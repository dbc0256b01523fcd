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
        this.driverAlloc = driverAlloc;
        this.driverFree = driverFree;
        this.synchronize = synchronize;
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
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException("the CUDA backend is closed");
            }
            ArrayDeque<Long> list = free.get(cls);
            if (list != null && !list.isEmpty()) {
                cachedBytes -= cls;
                liveBytes += cls;
                return list.pop();
            }
        }
        long ptr;
        try {
            ptr = driverAlloc.applyAsLong(cls);
        } catch (CudaException e) {
            if (e.status() != CudaDriver.CUDA_ERROR_OUT_OF_MEMORY) {
                throw e;
            }
            // Out of memory: give the cached blocks back to the driver and try once more.
            synchronize.run();
            releaseCached();
            ptr = driverAlloc.applyAsLong(cls);
        }
        synchronized (this) {
            driverAllocations++;
            liveBytes += cls;
            owned.add(ptr);
        }
        return ptr;
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
