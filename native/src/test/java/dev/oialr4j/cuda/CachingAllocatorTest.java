package dev.oialr4j.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The allocator against a simulated driver (plain Java, no native code). */
class CachingAllocatorTest {

    /** A driver with a byte limit that hands out increasing fake addresses. */
    private static final class SimulatedDriver {
        final long limit;
        long used;
        long next = 0x10000;
        final java.util.Map<Long, Long> sizes = new java.util.HashMap<>();
        final List<Long> freed = new ArrayList<>();

        SimulatedDriver(long limit) {
            this.limit = limit;
        }

        long alloc(long bytes) {
            if (used + bytes > limit) {
                throw new CudaException("cuMemAlloc", CudaDriver.CUDA_ERROR_OUT_OF_MEMORY, "CUDA_ERROR_OUT_OF_MEMORY");
            }
            used += bytes;
            long p = next;
            next += bytes;
            sizes.put(p, bytes);
            return p;
        }

        int synchronizations;

        void synchronize() {
            synchronizations++;
        }

        void free(long p) {
            used -= sizes.remove(p);
            freed.add(p);
        }
    }

    @Test
    void sizeClassesCoverTheRequestWithBoundedWaste() {
        Random rng = new Random();
        for (int i = 0; i < 10_000; i++) {
            long bytes = 1 + (long) (Math.exp(rng.nextDouble() * Math.log(1L << 34)));
            long cls = CachingAllocator.sizeClass(bytes);
            assertTrue(cls >= bytes, bytes + " -> " + cls);
            if (bytes > CachingAllocator.SMALL_LIMIT) {
                // Classes are 2^k and 1.5 * 2^k: the unused tail is under a third of the block.
                assertTrue(3 * (cls - bytes) < cls, bytes + " -> " + cls + " wastes a third of the block or more");
            } else {
                assertTrue(cls - bytes < CachingAllocator.SMALL_GRANULE && cls % CachingAllocator.SMALL_GRANULE == 0);
            }
        }
        assertEquals(512, CachingAllocator.sizeClass(1));
        assertEquals(3L << 20, CachingAllocator.sizeClass((2L << 20) + 1));
        assertEquals(4L << 20, CachingAllocator.sizeClass((3L << 20) + 1));
    }

    @Test
    void releasedBlocksAreReusedForTheSameClassOnly() {
        var driver = new SimulatedDriver(Long.MAX_VALUE);
        var alloc = new CachingAllocator(driver::alloc, driver::free, driver::synchronize);
        long a = alloc.allocate(4000);
        alloc.release(a, CachingAllocator.sizeClass(4000));
        assertEquals(a, alloc.allocate(3900), "same class (4096 bytes) reuses the block");
        long b = alloc.allocate(8000);
        assertTrue(b != a);
        assertEquals(2, alloc.driverAllocations());
        assertEquals(4096 + 8192, alloc.liveBytes());
    }

    @Test
    void outOfMemoryFreesTheCacheAndRetries() {
        var driver = new SimulatedDriver(3 * 4096);
        var alloc = new CachingAllocator(driver::alloc, driver::free, driver::synchronize);
        long a = alloc.allocate(4096);
        long b = alloc.allocate(4096);
        alloc.release(a, 4096);
        alloc.release(b, 4096);
        // 8 KiB cached, 4 KiB free in the driver: a 12 KiB request only fits once the cache is returned.
        long c = alloc.allocate(3 * 4096);
        assertEquals(Set.of(a, b), new HashSet<>(driver.freed));
        assertEquals(1, driver.synchronizations, "the stream is drained before cached blocks go back");
        assertEquals(0, alloc.cachedBytes());
        assertThrows(CudaException.class, () -> alloc.allocate(4096), "nothing left to give back");
        alloc.release(c, 3 * 4096);
    }

    @Test
    void outOfMemoryFirstCollectsDeadTensors() {
        var driver = new SimulatedDriver(2 * 4096);
        List<Runnable> pendingReleases = new ArrayList<>();
        CachingAllocator[] holder = new CachingAllocator[1];
        // The "collector" plays the Cleaner: it releases the blocks whose tensors died.
        var alloc = new CachingAllocator(driver::alloc, driver::free, driver::synchronize, () -> {
            pendingReleases.forEach(Runnable::run);
            pendingReleases.clear();
        }, Long.MAX_VALUE);
        holder[0] = alloc;
        long a = alloc.allocate(4096);
        long b = alloc.allocate(4096);
        pendingReleases.add(() -> holder[0].release(b, 4096));
        assertEquals(b, alloc.allocate(4096), "the block of the dead tensor is reused, not a driver error");
        assertEquals(1, alloc.collections());
        assertTrue(driver.freed.isEmpty());
        alloc.release(a, 4096);
    }

    @Test
    void collectsAfterABudgetOfHandedOutMemory() {
        var driver = new SimulatedDriver(Long.MAX_VALUE);
        List<Long> dead = new ArrayList<>();
        CachingAllocator[] holder = new CachingAllocator[1];
        var alloc = new CachingAllocator(driver::alloc, driver::free, driver::synchronize, () -> {
            dead.forEach(p -> holder[0].release(p, 4096));
            dead.clear();
        }, 3 * 4096);
        holder[0] = alloc;
        for (int step = 0; step < 10; step++) {
            dead.add(alloc.allocate(4096)); // a training step's temporary, dead right after
        }
        // Without collections this would be ten driver allocations. With a 3-block budget: three fresh
        // blocks, then a collection whenever three blocks have been handed out and the cache is empty (steps
        // 4, 7 and 10), each returning the last three temporaries for reuse.
        assertEquals(3, alloc.driverAllocations());
        assertEquals(3, alloc.collections());
    }

    /**
     * Many steps of temporaries of several sizes and a few long-lived tensors: the memory taken from the
     * driver levels off at about the budget plus the live bytes, instead of growing until the device is full.
     */
    @Test
    void driverMemoryLevelsOffNearTheBudget() {
        var driver = new SimulatedDriver(Long.MAX_VALUE);
        List<long[]> dead = new ArrayList<>();
        CachingAllocator[] holder = new CachingAllocator[1];
        long budget = 64L << 20;
        var alloc = new CachingAllocator(driver::alloc, driver::free, driver::synchronize, () -> {
            dead.forEach(d -> holder[0].release(d[0], d[1]));
            dead.clear();
        }, budget);
        holder[0] = alloc;
        Random rng = new Random(7);
        long[] sizes = {4096, 300_000, 1L << 20, 3L << 20, 5_000_000};
        List<long[]> kept = new ArrayList<>();
        long peak = 0;
        for (int step = 0; step < 500; step++) {
            for (int t = 0; t < 12; t++) {
                long bytes = sizes[rng.nextInt(sizes.length)];
                long cls = CachingAllocator.sizeClass(bytes);
                long p = alloc.allocate(bytes);
                if (step % 50 == 0 && t == 0) {
                    kept.add(new long[] {p, cls}); // e.g. a new parameter after a rank change
                } else {
                    dead.add(new long[] {p, cls});
                }
            }
            peak = Math.max(peak, driver.used);
        }
        long live = kept.stream().mapToLong(k -> k[1]).sum();
        long largest = CachingAllocator.sizeClass(5_000_000);
        // One step beyond the budget can be handed out before the miss that collects, and a class the cache
        // lacks can need fresh blocks while the others sit cached: allow a budget's worth on top.
        assertTrue(peak <= 2 * budget + live + 12 * largest, "driver memory grew to " + (peak >> 20) + " MiB");
        assertTrue(alloc.collections() > 10, "collections: " + alloc.collections());
    }

    @Test
    void closeFreesLiveAndCachedBlocksAndIgnoresLateReleases() {
        var driver = new SimulatedDriver(Long.MAX_VALUE);
        var alloc = new CachingAllocator(driver::alloc, driver::free, driver::synchronize);
        long live = alloc.allocate(100);
        long cached = alloc.allocate(5000);
        alloc.release(cached, CachingAllocator.sizeClass(5000));
        alloc.close();
        assertEquals(Set.of(live, cached), new HashSet<>(driver.freed));
        assertEquals(0, driver.used);
        alloc.release(live, CachingAllocator.sizeClass(100)); // a Cleaner after close: dropped
        assertEquals(2, driver.freed.size());
        assertThrows(IllegalStateException.class, () -> alloc.allocate(1));
    }
}
